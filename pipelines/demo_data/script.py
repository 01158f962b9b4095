"""Play the demo's threads over the configured period: one deterministic list of events.

Each day every chat gets a few threads (content.THREADS, drawn by weight), plus the threads
scheduled at a fraction of the period (facts the persona states, personal data people mention,
late joiners' notices). Threads in one chat never overlap; replies follow within minutes, the
persona a little slower (she types with one finger).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipelines.demo_data.cast import BY_ROLE, CHATS, OWNER, PERSONA, Chat, PiiValue
from pipelines.demo_data.content import (
    FACT_REPLIES,
    FACTS,
    JOIN_NOTICES,
    PII_THREADS,
    PLACES,
    SLOTS,
    THREADS,
    Step,
    Thread,
    persona_style,
)


@dataclass(frozen=True, slots=True)
class Event:
    """One message as WeChat stored it, before any exporter renders it."""

    chat: str  # chat role
    ts: int  # unix seconds
    sender: str  # person role; "" for system notices
    kind: str  # unified kind (text, image, voice, …, system, recall, call)
    text: str = ""  # words: text, reply, transcript, link title, notice …
    svrid: int = 0  # WeChat's server id (MsgSvrID)
    sub: int = 0  # notice subtype: 4 pat, 8000 invite
    data: dict[str, Any] = field(default_factory=dict)  # media ids, link, money, quoted event …
    thread: str = ""  # the template that produced it


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # aware midnight of the first day, in the exporting PC's zone
    days: int

    def day_start(self, day: int) -> int:
        return int(self.start.timestamp()) + day * 86400

    def month(self, day: int) -> int:
        return (self.start + timedelta(days=day)).month

    def day_of(self, fraction: float) -> int:
        return min(self.days - 1, max(0, int(fraction * self.days)))


_TOKEN_RE = re.compile(r"\[(\w+)\]\s*(.*)", re.S)


def _hex(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


class _Player:
    """Turns thread templates into events; all randomness from one seeded generator."""

    def __init__(self, rng: random.Random, period: Period, pii: tuple[PiiValue, ...]):
        self.rng = rng
        self.period = period
        self.pii = {p.key: p.value for p in pii}
        self.last_transfer: dict[str, dict] = {}  # chat -> the last transfer sent there

    # ---- helpers

    def members(self, chat: Chat, day: int) -> list[str]:
        """Members present on `day` (late joiners appear from their join day)."""
        return [r for r in chat.members if self.period.day_of(chat.joined_at(r)) <= day]

    def slots(self, chat: Chat) -> dict[str, str]:
        values = {k: self.rng.choice(v) for k, v in SLOTS.items()} | self.pii
        for person in BY_ROLE.values():
            values[f"at_{person.role}"] = f"@{person.group_name(chat.role)}\u2005"
        values["at_all"] = "@所有人\u2005"
        return values

    def quoted(self, role: str, chat: Chat) -> str:
        """A person as a notice names them, from the owner's point of view."""
        return f'"{BY_ROLE[role].shown(chat.role)}"'

    def svrid(self) -> int:
        return self.rng.randrange(10**18, 9 * 10**18)

    # ---- threads

    def can_play(self, thread: Thread, chat: Chat, day: int) -> bool:
        present = self.members(chat, day)
        return all(s.role == "other" or s.role in present for s in thread.steps)

    def play(self, thread: Thread, chat: Chat, day: int, t: int) -> list[Event]:
        present = self.members(chat, day)
        others = [r for r in present if r != PERSONA]
        other = self.rng.choice(others)
        slots = self.slots(chat)
        events: list[Event] = []
        lead = None  # option index of the opening step; `paired` steps answer with the same index
        played = False  # whether the previous step happened (`follows` steps answer it)
        for i, step in enumerate(thread.steps):
            skip = step.follows and not played
            played = not skip and (step.p >= 1 or self.rng.random() < step.p)
            if not played:
                continue
            role = other if step.role == "other" else step.role
            if i:
                t += self.gap(role)
            index = self.rng.randrange(len(step.options))
            if step.paired and lead is not None:
                index = lead % len(step.options)
            lead = index if lead is None else lead
            event = self.event(step.options[index], role, chat, t, slots, events, thread.name)
            if event is not None:
                events.append(event)
        return events

    def gap(self, role: str) -> int:
        if self.rng.random() < 0.1:
            return self.rng.randint(300, 1500)  # someone was busy
        return self.rng.randint(25, 240) if role == PERSONA else self.rng.randint(8, 150)

    def event(
        self,
        option: str,
        role: str,
        chat: Chat,
        t: int,
        slots: dict[str, str],
        so_far: list[Event],
        name: str,
    ) -> Event | None:
        base = {"chat": chat.role, "ts": t, "svrid": self.svrid(), "thread": name}
        m = _TOKEN_RE.fullmatch(option)
        if not m:
            text = option.removeprefix("=").format_map(slots)
            if role == PERSONA and not option.startswith("="):
                text = persona_style(text, self.rng)
            return Event(sender=role, kind="text", text=text, **base)
        kind, arg = m.group(1), m.group(2).format_map(slots)
        if kind not in _BUILDERS:
            raise ValueError(f"unknown step kind [{kind}] in thread {name}")
        made = _BUILDERS[kind](self, _Turn(kind, role, chat, t, arg, slots, so_far))
        return None if made is None else Event(**base, **made)

    # ---- one builder per non-text kind: the Event fields besides chat, time, id and thread

    def _media(self, turn: _Turn) -> dict:
        rng = self.rng
        data = {"md5": _hex(rng, 32), "md5b": _hex(rng, 32), "aes": _hex(rng, 32)}
        data |= {"size": rng.randint(40_000, 900_000), "cdn": "3057020100044b30490201000204" + _hex(rng, 56)}
        data |= {"w": rng.choice((1080, 1440)), "h": 1920, "seconds": rng.randint(4, 40)}
        data |= {"key": "30350201010421" + _hex(rng, 40), "store": _hex(rng, 40)}
        return {"sender": turn.role, "kind": turn.kind, "data": data}

    def _voice(self, turn: _Turn) -> dict:
        rng = self.rng
        data = {
            "ms": rng.randint(2500, 28000),
            "aes": _hex(rng, 32),
            "cdn": "3052020100044b3049" + _hex(rng, 48),
        }
        # Most voice messages were transcribed ("转文字") in the client, which keeps the text.
        data |= {
            "size": rng.randint(3000, 40000),
            "client": _hex(rng, 16),
            "transcribed": rng.random() < 0.75,
        }
        return {"sender": turn.role, "kind": "voice", "text": turn.arg, "data": data}

    def _link(self, turn: _Turn) -> dict:
        rng = self.rng
        title, _, des = (s.strip() for s in turn.arg.partition("|"))
        if title.isascii():
            url, source = f"https://garden.example.com/articles/{_hex(rng, 8)}", "Balcony Gardener"
        else:
            biz, mid = _hex(rng, 10), rng.randrange(10**9, 10**10)
            url = f"https://mp.weixin.qq.com/s?__biz=MzA{biz}==&mid={mid}&idx=1&sn={_hex(rng, 32)}#rd"
            source = rng.choice(("健康养生堂", "老年生活报", "社区服务号"))
        data = {"title": title, "des": des, "url": url, "source": source}
        return {"sender": turn.role, "kind": "link", "text": title, "data": data}

    def _file(self, turn: _Turn) -> dict:
        rng = self.rng
        data = {"name": turn.arg, "ext": turn.arg.rsplit(".", 1)[-1], "size": rng.randint(20_000, 3_000_000)}
        data |= {"md5": _hex(rng, 32), "attach": "@cdn_" + _hex(rng, 64) + "_1"}
        return {"sender": turn.role, "kind": "file", "text": turn.arg, "data": data}

    def _location(self, turn: _Turn) -> dict:
        rng = self.rng
        lat, lon, label, poi = PLACES[turn.arg]
        data = {
            "x": f"{lat + rng.uniform(-0.002, 0.002):.6f}",
            "y": f"{lon + rng.uniform(-0.002, 0.002):.6f}",
        }
        data |= {"label": label.format_map(turn.slots), "poiname": poi}
        data["poiid"] = f"qqmap_{rng.randrange(10**17, 10**18)}"
        return {"sender": turn.role, "kind": "location", "text": data["label"], "data": data}

    def _transfer(self, turn: _Turn) -> dict:
        amount, _, memo = (s.strip() for s in turn.arg.partition("|"))
        data = {"amount": f"￥{amount}", "memo": memo, "paysubtype": 1, "begin": turn.ts}
        data |= {"transaction": str(self.rng.randrange(10**27, 10**28))}
        data |= {"transfer": str(self.rng.randrange(10**27, 10**28))}
        made = {"sender": turn.role, "kind": "transfer", "text": f"{data['amount']} {memo}", "data": data}
        self.last_transfer[turn.chat.role] = made
        return made

    def _receive(self, turn: _Turn) -> dict | None:
        """The payee accepts the chat's last transfer: a receipt carrying the same transfer."""
        sent = self.last_transfer.get(turn.chat.role)
        if sent is None:
            return None
        return sent | {"sender": turn.role, "data": sent["data"] | {"paysubtype": 3}}

    def _red_packet(self, turn: _Turn) -> dict:
        data = {
            "wish": turn.arg,
            "sendid": str(self.rng.randrange(10**27, 10**28)),
            "template": _hex(self.rng, 32),
        }
        return {"sender": turn.role, "kind": "red_packet", "text": turn.arg, "data": data}

    def _call(self, turn: _Turn) -> dict:
        return {
            "sender": turn.role,
            "kind": "call",
            "text": turn.arg,
            "data": {"room": self.rng.randrange(10**8, 10**9)},
        }

    def _quote(self, turn: _Turn) -> dict | None:
        ref = next((e for e in reversed(turn.so_far) if e.kind == "text" and e.sender != turn.role), None)
        if ref is None:
            return None
        reply = persona_style(turn.arg, self.rng) if turn.role == PERSONA else turn.arg
        return {"sender": turn.role, "kind": "quote", "text": reply, "data": {"ref": ref}}

    def _recall(self, turn: _Turn) -> dict:
        who = "你" if turn.role == OWNER else self.quoted(turn.role, turn.chat) + " "
        return {"sender": "", "kind": "recall", "text": f"{who}撤回了一条消息", "sub": 57}

    def _pat(self, turn: _Turn) -> dict:
        # 我拍了拍 "外婆" / "外婆" 拍了拍我 / "Haoooo" 拍了拍 "外婆"
        actor = "我" if turn.role == OWNER else self.quoted(turn.role, turn.chat) + " "
        target = "我" if turn.arg == OWNER else " " + self.quoted(turn.arg, turn.chat)
        return {"sender": "", "kind": "system", "text": f"{actor}拍了拍{target}", "sub": 4}

    def _system(self, turn: _Turn) -> dict:
        return {"sender": "", "kind": "system", "text": turn.arg}


@dataclass(frozen=True, slots=True)
class _Turn:
    """One non-text step as it is being played."""

    kind: str
    role: str
    chat: Chat
    ts: int
    arg: str
    slots: dict[str, str]
    so_far: list[Event]


_BUILDERS = {
    "image": _Player._media,
    "video": _Player._media,
    "sticker": _Player._media,
    "voice": _Player._voice,
    "link": _Player._link,
    "file": _Player._file,
    "location": _Player._location,
    "transfer": _Player._transfer,
    "receive": _Player._receive,
    "red_packet": _Player._red_packet,
    "call": _Player._call,
    "quote": _Player._quote,
    "recall": _Player._recall,
    "pat": _Player._pat,
    "system": _Player._system,
}


def _scheduled(period: Period) -> dict[tuple[str, int], list[Thread]]:
    """Threads pinned to a day: facts, seeded PII."""
    pinned: dict[tuple[str, int], list[Thread]] = {}
    for fraction, thread in PII_THREADS:
        pinned.setdefault((thread.chats[0], period.day_of(fraction)), []).append(thread)
    for fact in FACTS:
        for chat, fraction, line in fact["statements"]:
            thread = Thread(f"fact_{fact['key']}", (chat,), (Step(PERSONA, (line,)), FACT_REPLIES[chat]))
            pinned.setdefault((chat, period.day_of(fraction)), []).append(thread)
    return pinned


def _joins(player: _Player, period: Period) -> list[Event]:
    """Notices for members who join a group during the period."""
    events = []
    for chat in CHATS:
        for role, fraction in chat.joins:
            inviter, template = JOIN_NOTICES[(chat.role, role)]
            t = period.day_start(period.day_of(fraction)) + 10 * 3600 + player.rng.randint(0, 3600)
            text = template.format(inviter=BY_ROLE[inviter].shown(chat.role), joiner=BY_ROLE[role].nickname)
            events.append(Event(chat.role, t, "", "system", text, player.svrid(), sub=8000, thread="join"))
    return events


def _draw(rng: random.Random, threads: list[Thread], count: int) -> list[Thread]:
    """`count` different threads, by weight (one chat never replays a thread the same day)."""
    pool, picked = list(threads), []
    while pool and len(picked) < count:
        thread = rng.choices(pool, weights=[t.weight for t in pool])[0]
        pool.remove(thread)
        picked.append(thread)
    return picked


def simulate(
    period: Period, seed: int, pii: tuple[PiiValue, ...], threads_per_day: dict[str, float]
) -> list[Event]:
    """Every event of every chat over the period, ordered by time."""
    rng = random.Random(f"{seed}:script")
    player = _Player(rng, period, pii)
    pinned = _scheduled(period)
    events = _joins(player, period)
    busy_until = dict.fromkeys((chat.role for chat in CHATS), 0)  # a late thread may run past midnight
    for day in range(period.days):
        for chat in CHATS:
            month = period.month(day)
            usable = [
                t
                for t in THREADS
                if chat.role in t.chats
                and (not t.months or month in t.months)
                and player.can_play(t, chat, day)
            ]
            count = max(0, round(rng.gauss(threads_per_day[chat.role], 1.0)))
            picked = _draw(rng, usable, count)
            planned = [(rng.uniform(*t.hours), t) for t in picked]
            planned += [(rng.uniform(9.0, 21.0), t) for t in pinned.get((chat.role, day), [])]
            for hour, thread in sorted(planned, key=lambda p: p[0]):
                start = period.day_start(day) + int(hour * 3600)
                played = player.play(
                    thread, chat, day, max(start, busy_until[chat.role] + rng.randint(120, 1800))
                )
                events += played
                if played:
                    busy_until[chat.role] = played[-1].ts
    events.sort(key=lambda e: e.ts)  # stable: same-second events keep their spoken order
    return events
