"""Export-format parsers. Each knows one format (or one family), detects it from a file's name and
first bytes, and turns it into `Message`/`Dropped` records. `ingest` asks every registered parser,
in order, whether it claims a file; contact files (users.json, MicroMsg.db, contact.db) are read
before any message file so names can be resolved to wxids.

Optional extras a parser may have: `parse_table` (see `TableParser`: the whole file as columns,
for big exports), and `day_precision = True` for formats that know only the day of a message
(ingest then treats its rows as covered by any exact export of the same chat and day).
Parsers count file-level facts with `ctx.note(...)`; contact parsers may note `rows_read` (entries
read) so the report can account for them. Ids: a wxid where the file shows one, else
`name_id(name)` for a chat known only by name, else "" for the sender (ingest resolves names).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipelines.ingest.schema import COLUMNS, Dropped, Kind, Message


class ExportError(Exception):
    """A whole file cannot be read. The message names the file and says what to do;
    ingest records it in the report and carries on with the other files."""


@dataclass
class Contacts:
    """Who is who, gathered from every contact source and message file seen so far."""

    names: dict[str, set[str]] = field(default_factory=dict)  # wxid -> every name seen for it
    chats: dict[str, tuple[str, bool]] = field(default_factory=dict)  # chat id -> (display name, is_group)
    owners: set[str] = field(default_factory=set)  # wxids of the exporting account(s)
    shown: dict[str, str] = field(default_factory=dict)  # wxid -> first preferred name seen

    def add_person(self, wxid: str, *names: str | None, owner: bool = False) -> None:
        """Record names seen for `wxid`, most preferred first (remark, then nickname, …)."""
        if not wxid:
            return
        valid = [n.strip() for n in names if n and n.strip() and n.strip() != wxid]
        self.names.setdefault(wxid, set()).update(valid)
        if valid:
            self.shown.setdefault(wxid, valid[0])
        if owner:
            self.owners.add(wxid)

    def add_chat(self, chat_id: str, name: str | None, is_group: bool) -> None:
        if chat_id and (chat_id not in self.chats or name):
            self.chats[chat_id] = (name or self.chats.get(chat_id, (chat_id, is_group))[0], is_group)


@dataclass
class ParseContext:
    timezone: ZoneInfo  # zone assumed for local times written by the exporting PC
    contacts: Contacts
    root: Path  # the raw chats folder; Message.source_file is relative to it
    self_names: frozenset[str] = frozenset({"我"})  # what exports show instead of the owner's name
    notes: dict[str, int | str] = field(default_factory=dict)  # facts about the file being parsed

    def rel(self, path: Path) -> str:
        """`path` relative to the chats folder, as written in the table and the report."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def note(self, key: str, count: int = 1) -> None:
        """Count a fact about the current file for report.json (counts and flags, never content)."""
        if count:
            self.notes[key] = int(self.notes.get(key, 0)) + count


class Parser(Protocol):
    name: ClassVar[str]  # recorded as Message.source_format, e.g. "memotrace_csv"
    role: ClassVar[str]  # "contacts" (read first, fills ctx.contacts) or "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        """True if this parser reads `path`; `head` is its first 4096 bytes."""
        ...

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        """Yield one record per input row (contacts parsers yield nothing and fill ctx.contacts,
        or yield Dropped for unusable rows). Raise ExportError when the file as a whole is unusable."""
        ...


@dataclass
class ParsedTable:
    """A whole file parsed at once: its messages as a table (schema.COLUMNS, see
    `schema.message_frame`) and the rows that could not become messages."""

    messages: pd.DataFrame
    dropped: list[Dropped] = field(default_factory=list)


class TableParser(Parser, Protocol):
    """A parser for big exports that builds the table column by column instead of yielding one
    `Message` per row (ingest prefers `parse_table` when a parser has it)."""

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable: ...


def iter_table(table: ParsedTable) -> Iterator[Message | Dropped]:
    """`ParsedTable` as the record stream of `Parser.parse` (for callers that want records)."""
    for row in table.messages[COLUMNS].itertuples(index=False):
        m = row._asdict()
        yield Message(**{**m, "kind": Kind(m["kind"]), "ts": m["ts"].to_pydatetime()})
    yield from table.dropped


def per_value(values: pd.Series, fn: Callable[[Any], Any], dtype: str = "str") -> pd.Series:
    """`fn` applied once per distinct value of a column: id, name and type columns repeat a few
    values over millions of rows."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = np.asarray([fn(u) for u in uniques], dtype=object)
    return pd.Series(mapped[codes] if len(codes) else [], index=values.index, dtype=dtype)


# ---- identities: the vocabulary parsers and ingest share to name people and chats ----

# Parsers that know a chat only by its display name use `name_id(name)` as its chat id; ingest
# replaces it with the real id when some other file or contact list ties that name to one id.
NAME_PREFIX = "name:"
# Ids a file makes up for chats it shows neither by id nor by name (only by a local number).
LOCAL_PREFIX = "local:"
PLACEHOLDER_PREFIXES = (NAME_PREFIX, LOCAL_PREFIX)
_WXID_RE = re.compile(r"(?:wxid_[0-9A-Za-z_-]+|[A-Za-z][0-9A-Za-z_-]{5,}|\d+@chatroom|[0-9A-Za-z_-]+@[a-z]+)")
# MemoTrace writes remarks with these characters replaced by "_" (folder and file names).
_SANITIZED = str.maketrans(dict.fromkeys('\\/:*?"<>| .', "_"))


def is_wxid(value: str) -> bool:
    """True for strings shaped like WeChat ids (wxid_…, custom ids, …@chatroom, gh_…), as opposed
    to display names, "我", "系统" or numeric local ids."""
    return bool(_WXID_RE.fullmatch(value))


def unmistakable_id(value: str) -> bool:
    """True for ids no display name looks like (`wxid_…`, `…@chatroom`): safe to take from a file
    or folder name."""
    return value.startswith("wxid_") or group_chat_id(value)


def name_id(name: str) -> str:
    """Placeholder id for a chat or person known only by its display name."""
    return f"{NAME_PREFIX}{name.strip()}"


def name_key(name: str) -> str:
    """Comparison key for display names seen in different exports: Unicode-normalised,
    case-folded, with MemoTrace's file-name sanitising applied so "Tom Zhao" matches "Tom_Zhao"."""
    return unicodedata.normalize("NFKC", name).strip().casefold().translate(_SANITIZED)


def group_chat_id(chat_id: str) -> bool:
    """True for chat room ids."""
    return chat_id.endswith("@chatroom")
