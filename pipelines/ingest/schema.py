"""The unified message table: one row per message, whatever export it came from.

Every format parser produces `Message` records (or `Dropped` records saying why an input row
could not become a message); `ingest` resolves speakers, removes duplicates and writes the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from enum import StrEnum
from operator import attrgetter

import pandas as pd


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    STICKER = "sticker"
    LINK = "link"
    FILE = "file"
    QUOTE = "quote"  # a reply quoting an earlier message; `text` is the reply, `quote_of` the quoted text
    LOCATION = "location"
    TRANSFER = "transfer"
    RED_PACKET = "red_packet"
    SYSTEM = "system"
    RECALL = "recall"
    CALL = "call"
    OTHER = "other"


@dataclass(slots=True)
class Message:
    """One message as read from one source row, before cross-file speaker resolution."""

    source_file: str  # path relative to the raw chats folder
    source_format: str  # parser name, e.g. "memotrace_csv"
    source_row: int  # 1-based row/record number inside the source file (for error messages)
    chat_id: str  # wxid / chatroom id where the format has it, else the chat's display name
    chat_name: str
    is_group: bool
    ts: datetime  # timezone-aware
    sender_id: str  # wxid where known, else "" (resolved later from names)
    sender_name: str  # the name the export shows for the sender ("" if none)
    is_self: bool  # sent by the exporting account
    kind: Kind
    text: str  # message text; for non-text kinds a short human description (link title, file name…)
    msg_id: str = ""  # server id (MsgSvrID) when the format has one; ingest derives a stable id otherwise
    quote_of: str = ""  # quoted message text, for kind=QUOTE
    quote_sender: str = ""  # name or wxid of the quoted message's sender, for kind=QUOTE
    media_ref: str = ""  # media path or md5 as given by the export
    extra: dict = field(default_factory=dict)  # parser-specific notes, not written to the table


@dataclass(slots=True)
class Dropped:
    """An input row that could not become a message, and why (goes to report.json)."""

    source_file: str
    source_row: int
    reason: str  # short machine-friendly reason, e.g. "unparseable_time", "empty_row"
    detail: str = ""  # human detail; never raw message content


# Column order of messages.parquet. `is_target` is added by `anonymize`.
COLUMNS = [
    "source_file",
    "source_format",
    "source_row",
    "chat_id",
    "chat_name",
    "is_group",
    "msg_id",
    "ts",
    "sender_id",
    "sender_name",
    "is_self",
    "kind",
    "text",
    "quote_of",
    "quote_sender",
    "media_ref",
]
assert set(COLUMNS) <= {f.name for f in fields(Message)}


_BOOL_COLUMNS = ("is_group", "is_self")
_TEXT_COLUMNS = [c for c in COLUMNS if c not in (*_BOOL_COLUMNS, "ts", "source_row")]


def message_frame(n: int, tz: tzinfo, **columns) -> pd.DataFrame:
    """The message table in COLUMNS order from column arrays (scalars are repeated for all `n`
    rows). `ts` must be timezone-aware; it is shown in `tz` (instants are kept)."""
    missing = set(COLUMNS) - set(columns)
    if missing:
        raise ValueError(f"message_frame: missing columns {sorted(missing)}")
    out = {}
    for name in COLUMNS:
        value = columns[name]
        if name == "ts":
            out[name] = pd.DatetimeIndex(pd.to_datetime(value, utc=True)).tz_convert(tz).as_unit("us")
        elif isinstance(value, pd.Series):
            out[name] = value.reset_index(drop=True)
        elif isinstance(value, bool | int | str):
            out[name] = [value] * n
        else:
            out[name] = value
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    # One dtype per column whatever the parser produced, so frames from all files concatenate cleanly.
    frame[_TEXT_COLUMNS] = frame[_TEXT_COLUMNS].astype("str")
    frame[list(_BOOL_COLUMNS)] = frame[list(_BOOL_COLUMNS)].astype(bool)
    frame["source_row"] = frame["source_row"].astype("int64")
    return frame


def frame_from_messages(messages: Iterable[Message], tz: tzinfo) -> pd.DataFrame:
    """The message table for records produced one at a time (parsers that yield `Message`)."""
    values = list(map(attrgetter(*COLUMNS), messages))
    columns = dict(zip(COLUMNS, map(list, zip(*values, strict=True)), strict=True)) if values else {}
    columns = {c: columns.get(c, []) for c in COLUMNS}
    columns["kind"] = [str(k) for k in columns["kind"]]
    return message_frame(len(values), tz, **columns)
