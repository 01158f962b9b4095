"""Replay: a recorded chat log fed through the real policy and generator on a simulated clock.

Input: JSON lines `{"ts": <unix seconds or ISO time>, "chat": "...", "sender": "...", "text": "..."}`
in time order (lines `{"ts": ..., "kill": true}` press the kill switch). Every message the persona
would have sent is written to `sent` with its simulated time, and comes back as an echo (as real
chat apps show your own messages), so follow-ups and caps behave as they would live.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from runtime.policy import Kill, Message


def parse_ts(value) -> float:
    return float(value) if isinstance(value, int | float) else datetime.fromisoformat(value).timestamp()


def read_log(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["ts"] = parse_ts(row["ts"])
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{path} line {n}: expected JSON with ts, chat, sender, text ({e})") from e
        if not row.get("kill") and not all(k in row for k in ("chat", "sender", "text")):
            raise ValueError(f"{path} line {n}: needs chat, sender and text (or kill: true)")
        rows.append(row)
    if any(b["ts"] < a["ts"] for a, b in pairwise(rows)):
        raise ValueError(f"{path}: lines must be in time order")
    return rows


class ReplayTransport:
    name = "replay"

    def __init__(self, rows: Iterable[dict], persona: str = "persona"):
        self.rows = list(rows)
        self.persona = persona
        self.next = 0
        self.echoes: list[Message] = []
        self.sent: list[dict] = []

    def poll(self, now: float) -> list:
        events = self.echoes
        self.echoes = []
        while self.next < len(self.rows) and self.rows[self.next]["ts"] <= now:
            row = self.rows[self.next]
            self.next += 1
            if row.get("kill"):
                events.append(Kill(row["ts"], "replay"))
            else:
                msg_id = f"r{self.next}"
                events.append(Message(row["chat"], row["sender"], row["text"], row["ts"], False, msg_id))
        return events

    def send(self, chat: str, text: str, now: float) -> bool:
        self.sent.append({"ts": now, "chat": chat, "text": text})
        self.echoes.append(Message(chat, self.persona, text, now, True, f"s{len(self.sent)}"))
        return True

    def next_event_time(self) -> float | None:
        return self.rows[self.next]["ts"] if self.next < len(self.rows) else None

    def finished(self, now: float) -> bool:
        return self.next >= len(self.rows) and not self.echoes

    def close(self) -> None:
        pass
