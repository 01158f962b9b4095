"""Export-format parsers. Each knows one format (or one family), detects it from a file's name and
first bytes, and turns it into `Message`/`Dropped` records. `ingest` asks every registered parser,
in order, whether it claims a file; contact files (users.json, MicroMsg.db, contact.db) are read
before any message file so names can be resolved to wxids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol
from zoneinfo import ZoneInfo

from pipelines.ingest.schema import Dropped, Message


class ExportError(Exception):
    """A whole file cannot be read. The message names the file and says what to do;
    ingest records it in the report and carries on with the other files."""


@dataclass
class Contacts:
    """Who is who, gathered from every contact source and message file seen so far."""

    names: dict[str, set[str]] = field(default_factory=dict)  # wxid -> every name seen for it
    chats: dict[str, tuple[str, bool]] = field(default_factory=dict)  # chat id -> (display name, is_group)
    owners: set[str] = field(default_factory=set)  # wxids of the exporting account(s)

    def add_person(self, wxid: str, *names: str | None, owner: bool = False) -> None:
        if not wxid:
            return
        known = self.names.setdefault(wxid, set())
        known.update(n.strip() for n in names if n and n.strip() and n.strip() != wxid)
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
