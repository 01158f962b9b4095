"""Stage `demo_data`: WeChat exports of a fictional persona, so `dvc repro` runs end to end on a
fresh clone with no user data.

    python -m pipelines.demo_data [paths.data=DIR] [demo_data.seed=8]

The persona is Chen Meilan (陈美兰, wxid_meilan_chen01), a bilingual grandmother; the exports
belong to her granddaughter Lin Xiaoyu (wxid_xiaoyu_lin88). Over `days` days from `start` it
writes, exactly as the tools do (see exporters.py):

- family group 陈家大院 twice: MemoTrace CSV for the first part of the period and PyWxDump CSV
  pages (+ users.json) for the last part; the ranges overlap, so ingest must dedupe;
- garden-club group 阳台花友会 as chatlog JSON (with the excluded third party Tom Zhao);
- the private chat with the persona as PyWxDump JSON (voice messages with transcripts).

`generate(cfg)` is pure: same seed, same bytes. Its `truth` lists every identifier and piece of
personal data seeded into the chats (never written to the chats folder), the persona's stated
facts and the counts, for tests that check what later stages keep and remove.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from omegaconf import DictConfig

from pipelines.demo_data.cast import (
    BY_ROLE,
    CHAT_BY_ROLE,
    CHATS,
    EXCLUDED,
    NON_MEMBERS,
    OWNER,
    PEOPLE,
    PERSONA,
    make_pii,
)
from pipelines.demo_data.content import FACTS, STYLE_RULES
from pipelines.demo_data.exporters import Exporter, sanitize
from pipelines.demo_data.script import Event, Period, simulate
from pipelines.stage import StageError

MEMOTRACE_TALKER_ID = 17  # the family group's local id in the client's name table


@dataclass(frozen=True)
class Truth:
    """What was seeded into the demo exports, in the raw forms the exports show."""

    owner: str
    persona: str
    excluded: list[str]
    people: list[dict]
    chats: list[dict]
    pii: list[dict]  # {key, entity, value, owner}: one entry per spelling
    non_members: list[dict]
    persona_facts: list[dict]
    memory_questions: list[dict]  # held-out questions about the facts (eval_text's memory check)
    style: dict
    files: dict[str, str]  # relative path -> format
    counts: dict

    def sensitive_values(self) -> list[str]:
        """Every raw identifier, name and PII value, flat and without repeats (scan targets)."""
        values: list[str] = []
        for p in self.people:
            values += [p["wxid"], p["real_name"], p["nickname"], p["remark"], p["account"]]
            values += list(p["group_names"].values()) + p["text_names"]
        for c in self.chats:
            values += [c["id"], c["name"]]
        values += [v["value"] for v in self.pii]
        for n in self.non_members:
            values += [n["name"], *n["forms"]]
        return list(dict.fromkeys(v for v in values if v))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DemoExport:
    files: dict[str, bytes]  # path relative to the chats folder -> exact bytes
    truth: Truth


def period_of(cfg: DictConfig) -> tuple[Period, ZoneInfo]:
    tz = ZoneInfo(cfg.demo_data.timezone)
    first = date.fromisoformat(str(cfg.demo_data.start))
    return Period(datetime(first.year, first.month, first.day, tzinfo=tz), int(cfg.demo_data.days)), tz


def generate(cfg: DictConfig) -> DemoExport:
    """All demo export files and what was seeded into them, for `cfg.demo_data`."""
    c = cfg.demo_data
    period, tz = period_of(cfg)
    if period.days < 2:
        raise StageError(f"demo_data.days must be at least 2 (got {period.days})")
    if not 0 <= c.family_pywxdump_from <= c.family_memotrace_until <= 1:
        # A gap between the two family exports would lose messages the truth still counts.
        raise StageError("need 0 <= demo_data.family_pywxdump_from <= family_memotrace_until <= 1")
    pii = make_pii(random.Random(f"{c.seed}:pii"))
    events = simulate(period, int(c.seed), pii, dict(c.threads_per_day))
    out = _render(events, period, tz, c)
    truth = Truth(
        owner=BY_ROLE[OWNER].wxid,
        persona=BY_ROLE[PERSONA].wxid,
        excluded=[p.wxid for p in PEOPLE if p.role == EXCLUDED],
        people=[_person(p) for p in PEOPLE],
        chats=[_chat(ch, out.chat_files[ch.role]) for ch in CHATS],
        pii=[{"key": v.key, "entity": v.entity, "value": v.value, "owner": v.owner} for v in pii],
        non_members=[{**n, "forms": list(n["forms"])} for n in NON_MEMBERS],
        persona_facts=_facts(events, tz),
        memory_questions=memory_questions(),
        style=dict(STYLE_RULES),
        files=out.formats,
        counts=_counts(events, out, tz),
    )
    return DemoExport(out.files, truth)


@dataclass
class _Rendered:
    """Export files with their format, row count and chat; the family exports' overlap."""

    files: dict[str, bytes] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    chat_files: dict[str, list[str]] = field(default_factory=lambda: {chat.role: [] for chat in CHATS})
    overlap: tuple[int, int, int] = (0, 0, 0)  # (messages in both, from ts, until ts)

    def put(self, chat: str, path: str, data: bytes, fmt: str, rows: int) -> None:
        self.files[path], self.formats[path], self.rows[path] = data, fmt, rows
        self.chat_files[chat].append(path)


def _render(events: list[Event], period: Period, tz: ZoneInfo, c: DictConfig) -> _Rendered:
    """Each chat in its tool's format, at the paths the tools write."""
    out = _Rendered()
    # localId counts every message of the account's MSG table: other chats leave gaps.
    exporter = Exporter(BY_ROLE, tz, {e.svrid: 1 + 2 * i for i, e in enumerate(events)})
    by_chat = {chat.role: [e for e in events if e.chat == chat.role] for chat in CHATS}
    family, garden, private = (CHAT_BY_ROLE[r] for r in ("family", "garden", "private"))

    until = period.day_start(round(c.family_memotrace_until * period.days))
    since = period.day_start(round(c.family_pywxdump_from * period.days))
    early = [e for e in by_chat["family"] if e.ts < until]
    late = [e for e in by_chat["family"] if e.ts >= since]
    out.overlap = (sum(since <= e.ts < until for e in by_chat["family"]), since, until)
    remark = sanitize(family.name)
    data = exporter.memotrace_csv(family, early, MEMOTRACE_TALKER_ID)
    out.put("family", f"memotrace/聊天记录/{remark}/{remark}_utf8.csv", data, "memotrace_csv", len(early))

    for chat, chat_events, as_json in ((family, late, False), (private, by_chat["private"], True)):
        folder = f"pywxdump/export/{BY_ROLE[OWNER].wxid}/{'json' if as_json else 'csv'}/{chat.id}"
        fmt = "pywxdump_json" if as_json else "pywxdump_csv"
        for name, (data, n) in exporter.pywxdump_pages(
            chat, chat_events, int(c.pywxdump_page_rows), as_json
        ).items():
            out.put(chat.role, f"{folder}/{name}", data, fmt, n)
        out.put(
            chat.role, f"{folder}/users.json", exporter.pywxdump_users(chat, chat_events), "pywxdump_users", 0
        )

    last = date.fromordinal(period.start.date().toordinal() + period.days - 1)
    path = f"chatlog/{garden.name}_{period.start:%Y%m%d}-{last:%Y%m%d}.json"
    out.put(
        "garden",
        path,
        exporter.chatlog_json(garden, by_chat["garden"]),
        "chatlog_json",
        len(by_chat["garden"]),
    )
    return out


def _person(p) -> dict:
    return {
        "role": p.role,
        "wxid": p.wxid,
        "real_name": p.real_name,
        "nickname": p.nickname,
        "remark": p.remark,
        "account": p.account,
        "group_names": {CHAT_BY_ROLE[chat].id: name for chat, name in p.group_names},
        "text_names": list(p.text_names),
        "excluded": p.role == EXCLUDED,
    }


def _chat(chat, paths: list[str]) -> dict:
    return {
        "role": chat.role,
        "id": chat.id,
        "name": chat.name,
        "is_group": chat.is_group,
        "members": [BY_ROLE[r].wxid for r in chat.members],
        "files": paths,
    }


def _facts(events: list[Event], tz: ZoneInfo) -> list[dict]:
    out = []
    for fact in FACTS:
        said = [e for e in events if e.thread == f"fact_{fact['key']}" and e.sender == PERSONA]
        statements = [
            {
                "chat": CHAT_BY_ROLE[e.chat].id,
                "date": _local_day(e.ts, tz),
                "text": e.text,
            }
            for e in said
        ]
        out.append(
            {"key": fact["key"], "value": fact["value"], "detail": fact["detail"], "statements": statements}
        )
    return out


def memory_questions() -> list[dict]:
    """Questions about the persona's facts that the chats never ask, with the answers a consistent
    reply contains and the statements (evidence) a retriever should find."""
    return [
        {
            "id": f"{fact['key']}-{i}",
            "fact": fact["key"],
            "question": question,
            "answers": list(fact["answers"]),
            "evidence": [line for _chat, _at, line in fact["statements"]],
        }
        for fact in FACTS
        for i, question in enumerate(fact["questions"], start=1)
    ]


def _counts(events: list[Event], out: _Rendered, tz: ZoneInfo) -> dict:
    persona = [e for e in events if e.sender == PERSONA]
    messages = {p: n for p, n in out.rows.items() if out.formats[p] != "pywxdump_users"}
    per_format = Counter()
    for path, n in messages.items():
        per_format[out.formats[path]] += n
    shared, since, until = out.overlap
    return {
        "messages": len(events),
        "rows_written": sum(messages.values()),
        "per_chat": {CHAT_BY_ROLE[k].id: n for k, n in sorted(Counter(e.chat for e in events).items())},
        "per_kind": dict(sorted(Counter(e.kind for e in events).items())),
        "per_file": messages,
        "per_format": dict(sorted(per_format.items())),
        "family_overlap": shared,
        "family_overlap_range": [_local_day(since, tz), _local_day(until - 1, tz)],
        "persona_messages": len(persona),
        "persona_text": sum(e.kind == "text" for e in persona),
        "persona_voice": sum(e.kind == "voice" for e in persona),
    }


def _local_day(ts: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).date().isoformat()
