"""Decrypted WeChat PC databases (wechat-formats.md §5–6).

- WeChat 3.x: `Msg/Multi/MSG<N>.db` (one `MSG` table) and `Msg/MicroMsg.db` (`Contact`, `ChatRoom`).
- WeChat 4.x: `db_storage/message/message_<N>.db` (one `Msg_<md5(talker)>` table per chat, senders
  in `Name2Id`) and `db_storage/contact/contact.db` (`contact`).

Files are opened read-only through SQLite's URI (`mode=ro`); nothing is ever written next to them.
A file named like one of these databases but without the SQLite header is still SQLCipher-encrypted:
its parser claims it so the report can say to decrypt it first, instead of calling it unknown.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import lz4.block
import zstandard

from pipelines.ingest.formats import (
    LOCAL_PREFIX,
    ExportError,
    ParseContext,
    group_chat_id,
    is_wxid,
    unmistakable_id,
)
from pipelines.ingest.formats.appmsg import Decoded, decode_content
from pipelines.ingest.schema import Dropped, Kind, Message

SQLITE_MAGIC = b"SQLite format 3\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Base type codes of §6. Rows of any other type are dropped as `unknown_type` (counted, not guessed).
KNOWN_TYPES = frozenset({1, 3, 34, 37, 42, 43, 47, 48, 49, 50, 10000, 10002})
_NO_SPEAKER = frozenset({Kind.SYSTEM, Kind.RECALL})  # notices: nobody said them

# The names WeChat gives these files; PyWxDump writes decrypted copies as `de_<name>`.
MSG3_NAME = re.compile(r"(?:de_)?MSG\d*\.db", re.IGNORECASE)
MICROMSG_NAME = re.compile(r"(?:de_)?MicroMsg\.db", re.IGNORECASE)
MESSAGE4_NAME = re.compile(r"(?:de_)?message_\d+\.db", re.IGNORECASE)
CONTACT4_NAME = re.compile(r"(?:de_)?contact\.db", re.IGNORECASE)
MSG4_TABLE = re.compile(r"msg_[0-9a-f]{32}")  # lower-cased `Msg_<md5(talker)>`

# Group messages written as "wxid:\n<body>" (macOS 3.x, all of 4.x).
_SENDER_PREFIX_RE = re.compile(r"([^\s:]+):\n")


# ---- opening databases ----


@dataclass(frozen=True)
class Schema:
    """What a database holds: its tables (lower-case name -> name as created) and the lower-case
    columns of its contact table, which tell the 3.x layout (`NickName`) from 4.x (`nick_name`)."""

    tables: dict[str, str]
    contact_columns: frozenset[str] = frozenset()

    def msg4_tables(self) -> list[str]:
        return sorted(name for low, name in self.tables.items() if MSG4_TABLE.fullmatch(low))


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection; text comes back as bytes so one badly encoded value costs one row,
    not the whole query."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    con.text_factory = bytes
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(con: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(_text(row[1]).lower() for row in con.execute(f"PRAGMA table_info({_quote(table)})"))


def read_schema(con: sqlite3.Connection) -> Schema:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {_text(name).lower(): _text(name) for (name,) in rows}
    contact = _columns(con, tables["contact"]) if "contact" in tables else frozenset()
    return Schema(tables, contact)


@lru_cache(maxsize=32)
def _cached_schema(path: str, mtime_ns: int, size: int) -> Schema | None:
    """The schema for sniffing (four parsers ask about each database); None when SQLite can't read it."""
    try:
        con = _connect(Path(path))
        try:
            return read_schema(con)
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _sniff(path: Path, head: bytes, file_name: re.Pattern, wants: Callable[[Schema], bool]) -> bool:
    """Claim a readable database whose tables fit, or a file named like one that SQLite cannot read
    (encrypted or damaged): `parse` then explains what to do."""
    named = bool(file_name.fullmatch(path.name))
    if not head.startswith(SQLITE_MAGIC):
        return named
    stat = path.stat()
    schema = _cached_schema(str(path), stat.st_mtime_ns, stat.st_size)
    return named if schema is None else wants(schema)


def _damaged(rel: str, error: sqlite3.Error) -> ExportError:
    return ExportError(
        f"{rel}: the database is damaged or incomplete (SQLite: {error}); copy it again from the "
        "WeChat folder and decrypt it again"
    )


@contextmanager
def open_database(path: Path, ctx: ParseContext) -> Iterator[tuple[sqlite3.Connection, Schema]]:
    """The database and its schema, or an ExportError saying why the file cannot be read."""
    rel = ctx.rel(path)
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if not head:
        raise ExportError(f"{rel}: empty file; copy the database again from the WeChat folder")
    if head != SQLITE_MAGIC:
        raise ExportError(
            f"{rel}: this WeChat database is still encrypted (no SQLite header); decrypt it first "
            "(e.g. PyWxDump's decrypt or `chatlog decrypt`) and put the decrypted copy here"
        )
    try:
        con = _connect(path)
    except sqlite3.Error as e:
        raise _damaged(rel, e) from None
    try:
        yield con, read_schema(con)
    except sqlite3.Error as e:
        raise _damaged(rel, e) from None
    finally:
        con.close()


def _select(con: sqlite3.Connection, table: str, wanted: tuple[str, ...], order: str = "rowid") -> Iterator:
    """Rows of `rowid` and the `wanted` columns; a column the table lacks reads as NULL (builds differ)."""
    have = _columns(con, table)
    columns = ", ".join(_quote(c) if c.lower() in have else "NULL" for c in wanted)
    return con.execute(f"SELECT rowid, {columns} FROM {_quote(table)} ORDER BY {order}")


# ---- values ----


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes | str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _timestamp(value: object, tz: tzinfo) -> tuple[datetime | None, str]:
    """CreateTime (Unix seconds) as an aware datetime, or (None, drop reason)."""
    seconds = _int(value)
    if not seconds or seconds < 0:
        return None, "missing_time"
    try:
        return datetime.fromtimestamp(seconds, tz), ""
    except (OverflowError, OSError, ValueError):
        return None, "unparseable_time"


def _server_id(value: object) -> str:
    number = _int(value)
    return str(number) if number else ""


def lz4_block(blob: bytes) -> bytes:
    """A raw LZ4 block (no size header: WeChat stores none). The output buffer grows until the
    block fits; an LZ4 block expands at most 255-fold, so past that the block is corrupt."""
    limit = len(blob) * 255 + 64
    size = min(max(len(blob) * 8, 4096), limit)
    while True:
        try:
            return lz4.block.decompress(blob, uncompressed_size=size)
        except lz4.block.LZ4BlockError:
            if size >= limit:
                raise
            size = min(size * 8, limit)


def zstd_frame(blob: bytes, zstd: zstandard.ZstdDecompressor) -> bytes:
    """One zstd frame (4.x frames need not state their size); a truncated frame is an error, not a
    short text."""
    reader = zstd.decompressobj()
    out = reader.decompress(blob)
    if not reader.eof:
        raise ValueError("truncated zstd frame")
    return out


# ---- BytesExtra: a tiny protobuf reader ----


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def proto_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: varints as int, length-delimited
    fields as bytes; ValueError on anything malformed."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("field runs past the end")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(buf):
                raise ValueError("field runs past the end")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def bytes_extra_sender(blob: bytes) -> str:
    """The group sender's wxid in a 3.x `BytesExtra`: the first `3{1: kind, 2: string}` entry
    with kind 1 ("" when there is none). ValueError when the blob is not such a message."""
    for number, wire, value in proto_fields(blob):
        if number != 3 or wire != 2:
            continue
        kind, text = None, b""
        for inner, inner_wire, inner_value in proto_fields(value):
            if inner == 1 and inner_wire == 0:
                kind = inner_value
            elif inner == 2 and inner_wire == 2:
                text = inner_value
        if kind == 1 and text:
            return text.decode("utf-8").strip()
    return ""


def split_sender(content: str) -> tuple[str, str]:
    """("wxid", body) for group content written as "wxid:\\n<body>", else ("", content)."""
    m = _SENDER_PREFIX_RE.match(content)
    if m and is_wxid(m.group(1)):
        return m.group(1), content[m.end() :]
    return "", content


# ---- contacts ----


def _names(row: tuple) -> list[str]:
    return [_text(v).strip() for v in row]


def _split_list(value: object) -> list[str]:
    """A `ChatRoom` member list: '^G'-separated (read both as the two characters and as BEL)."""
    text = _text(value)
    return [part.strip() for part in re.split(r"\^G|\x07", text)] if text.strip() else []


def _contact_rows(
    con: sqlite3.Connection, table: str, columns: tuple[str, ...], rel: str, ctx: ParseContext
) -> tuple[int, list[Dropped]]:
    """People and chats of a contact table whose columns are (id, remark, nickname, alias)."""
    read, dropped = 0, []
    for number, (rowid, user, remark, nick, alias) in enumerate(_select(con, table, columns), start=1):
        wxid = _text(user).strip()
        if not wxid:
            dropped.append(Dropped(rel, number, "no_username", f"{table} rowid {rowid} has no user name"))
            continue
        remark, nick, alias = _names((remark, nick, alias))
        if group_chat_id(wxid):
            ctx.contacts.add_chat(wxid, remark or nick, True)
        else:
            ctx.contacts.add_person(wxid, remark, nick, alias)
        read += 1
    return read, dropped


def read_contacts3(con: sqlite3.Connection, schema: Schema, rel: str, ctx: ParseContext) -> tuple[int, list]:
    """MicroMsg.db: `Contact` (remark, nickname, alias) and `ChatRoom` member lists."""
    read, dropped = _contact_rows(
        con, schema.tables["contact"], ("UserName", "Remark", "NickName", "Alias"), rel, ctx
    )
    if "chatroom" not in schema.tables:
        return read, dropped
    table = schema.tables["chatroom"]
    rows = _select(con, table, ("ChatRoomName", "UserNameList", "DisplayNameList"))
    for number, (rowid, room, members, shown) in enumerate(rows, start=read + len(dropped) + 1):
        room = _text(room).strip()
        if not room:
            dropped.append(Dropped(rel, number, "no_username", f"{table} rowid {rowid} has no ChatRoomName"))
            continue
        ctx.contacts.add_chat(room, None, True)
        members, shown = _split_list(members), _split_list(shown)
        # Group nicknames are paired with members only when the two lists line up one to one:
        # a shifted pairing would give someone else's name to a wxid.
        aligned = len(shown) == len(members)
        for i, member in enumerate(members):
            if member:
                ctx.contacts.add_person(member, shown[i] if aligned else None)
        read += 1
    return read, dropped


def read_contacts4(con: sqlite3.Connection, schema: Schema, rel: str, ctx: ParseContext) -> tuple[int, list]:
    """contact.db: `contact` (remark, nick_name, alias); group chats are rows ending in @chatroom."""
    columns = ("username", "remark", "nick_name", "alias")
    return _contact_rows(con, schema.tables["contact"], columns, rel, ctx)


def _is_contacts3(schema: Schema) -> bool:
    return "nickname" in schema.contact_columns


def _is_contacts4(schema: Schema) -> bool:
    return "nick_name" in schema.contact_columns


class WeChat3Contacts:
    """WeChat 3.x `MicroMsg.db`: `Contact(UserName, Alias, Remark, NickName, …)` and
    `ChatRoom(ChatRoomName, UserNameList, DisplayNameList, …)`."""

    name: ClassVar[str] = "wechat3_micromsg_db"
    role: ClassVar[str] = "contacts"

    def sniff(self, path: Path, head: bytes) -> bool:
        return _sniff(path, head, MICROMSG_NAME, lambda s: _is_contacts3(s) and "msg" not in s.tables)

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        with open_database(path, ctx) as (con, schema):
            if not _is_contacts3(schema):
                raise ExportError(f"{rel}: no Contact table with NickName; not a WeChat 3.x MicroMsg.db")
            read, dropped = read_contacts3(con, schema, rel, ctx)
        ctx.note("rows_read", read)
        yield from dropped


class WeChat4Contacts:
    """WeChat 4.x `contact.db`: `contact(username, alias, remark, nick_name, …)`."""

    name: ClassVar[str] = "wechat4_contact_db"
    role: ClassVar[str] = "contacts"

    def sniff(self, path: Path, head: bytes) -> bool:
        return _sniff(path, head, CONTACT4_NAME, lambda s: _is_contacts4(s) and not s.msg4_tables())

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        with open_database(path, ctx) as (con, schema):
            if not _is_contacts4(schema):
                raise ExportError(f"{rel}: no contact table with nick_name; not a WeChat 4.x contact.db")
            read, dropped = read_contacts4(con, schema, rel, ctx)
        ctx.note("rows_read", read)
        yield from dropped


# ---- messages ----


def _message(
    parser: str,
    rel: str,
    number: int,
    chat_id: str,
    is_group: bool,
    ts: datetime,
    sender: str,
    is_self: bool,
    decoded: Decoded,
    msg_id: str,
    ctx: ParseContext,
) -> Message:
    if decoded.kind in _NO_SPEAKER:  # a notice is nobody's words, whoever's row it sits in
        sender, is_self = "", False
    listed = ctx.contacts.chats.get(chat_id)
    chat_name = (listed[0] if listed else "") or ctx.contacts.shown.get(chat_id, "") or chat_id
    return Message(
        source_file=rel,
        source_format=parser,
        source_row=number,
        chat_id=chat_id,
        chat_name=chat_name,
        is_group=is_group,
        ts=ts,
        sender_id=sender,
        sender_name="",  # ingest fills names from the contact lists by wxid
        is_self=is_self,
        kind=decoded.kind,
        text=decoded.text,
        msg_id=msg_id,
        quote_of=decoded.quote_of,
        quote_sender=decoded.quote_sender,
        media_ref=decoded.media_ref,
    )


def owner_from_path3(rel: str) -> str:
    """The account folder of a 3.x layout, `<wxid>/Msg/...` as in `WeChat Files`, when it is a
    wxid_ id (`rel`: the path inside the chats folder, so folders above it never count)."""
    parts = Path(rel).parts
    for i in range(1, len(parts) - 1):
        if parts[i] == "Msg" and unmistakable_id(parts[i - 1]):
            return parts[i - 1]
    return ""


class WeChat3Db:
    """WeChat 3.x `MSG<N>.db`: table `MSG`, one row per message of every chat. Group senders come
    from `BytesExtra` (Windows) or a "wxid:\\n" prefix (macOS); type-49 bodies are LZ4 blocks in
    `CompressContent`."""

    name: ClassVar[str] = "wechat3_msg_db"
    role: ClassVar[str] = "messages"
    _COLUMNS = ("localId", "MsgSvrID", "Type", "SubType", "IsSender", "CreateTime", "StrTalker")
    _COLUMNS += ("StrContent", "CompressContent", "BytesExtra")
    _REQUIRED = frozenset({"type", "createtime", "strtalker"})

    def sniff(self, path: Path, head: bytes) -> bool:
        return _sniff(path, head, MSG3_NAME, lambda s: "msg" in s.tables)

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        with open_database(path, ctx) as (con, schema):
            if "msg" not in schema.tables:
                raise ExportError(f"{rel}: no MSG table; not a WeChat 3.x message database (MSG<N>.db)")
            table = schema.tables["msg"]
            missing = self._REQUIRED - _columns(con, table)
            if missing:
                raise ExportError(
                    f"{rel}: the MSG table lacks {sorted(missing)}; not the WeChat 3.x layout this reads"
                )
            if _is_contacts3(schema):  # a merged database (contacts and messages in one file)
                read, _ = read_contacts3(con, schema, rel, ctx)
                ctx.note("contact_rows_read", read)
            owner = owner_from_path3(rel)
            if owner:
                ctx.contacts.add_person(owner, owner=True)
                ctx.note("owner_from_folder_name")
            order = "localId" if "localid" in _columns(con, table) else "rowid"
            for row in _select(con, table, self._COLUMNS, order):
                yield self._row(row, rel, owner, ctx)

    def _row(self, row: tuple, rel: str, owner: str, ctx: ParseContext) -> Message | Dropped:
        rowid, local_id, svrid, type_, subtype, is_sender, created, talker, content, compressed, extra = row
        number = _int(local_id) or rowid
        type_ = _int(type_)
        if type_ is None:
            return Dropped(rel, number, "unknown_type", f"localId {number}: Type is empty")
        if type_ not in KNOWN_TYPES:
            return Dropped(rel, number, "unknown_type", f"localId {number}: type {type_}")
        ts, why = _timestamp(created, ctx.timezone)
        if ts is None:
            return Dropped(rel, number, why, f"localId {number}: CreateTime is not a Unix time")
        chat_id = _text(talker).strip()
        if not chat_id:
            return Dropped(rel, number, "no_chat", f"localId {number}: StrTalker is empty")
        body = _text(content)
        if type_ == 49 and compressed:
            try:
                body = lz4_block(bytes(compressed)).rstrip(b"\x00").decode("utf-8")
            except (lz4.block.LZ4BlockError, UnicodeDecodeError):
                if "<" not in body:  # no plain copy to fall back on
                    return Dropped(
                        rel, number, "undecodable_content", f"localId {number}: CompressContent is not LZ4"
                    )
                ctx.note("compressed_content_unreadable_used_plain")
        is_group = group_chat_id(chat_id)
        is_self = _int(is_sender) == 1
        sender = owner if is_self else ("" if is_group else chat_id)
        if is_group and not is_self:
            try:
                sender = bytes_extra_sender(bytes(extra)) if extra else ""
            except (ValueError, UnicodeDecodeError):
                ctx.note("bytes_extra_unreadable")
            if not sender:  # macOS 3.x writes the sender before the body instead
                sender, body = split_sender(body)
        elif is_group and owner and body.startswith(f"{owner}:\n"):  # own row, prefixed like the others
            body = body[len(owner) + 2 :]
        decoded = decode_content(type_, _int(subtype) or 0, body)
        if is_group and not is_self and not sender and decoded.kind not in _NO_SPEAKER:
            ctx.note("group_sender_unknown")
        return _message(
            self.name, rel, number, chat_id, is_group, ts, sender, is_self, decoded, _server_id(svrid), ctx
        )


@dataclass
class _Chat:
    """One `Msg_<md5>` table: the chat it holds (found by hashing known ids) and its columns."""

    table: str
    talker: str  # "" when no known id hashes to the table's name
    columns: frozenset[str]

    @property
    def chat_id(self) -> str:
        return self.talker or f"{LOCAL_PREFIX}{self.table[4:].lower()}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def owner_from_path4(rel: str, known: set[str]) -> str:
    """The account folder of a 4.x layout, `<wxid>_<suffix>/db_storage/...`, when exactly one id
    of `known` (Name2Id) names it (`rel`: the path inside the chats folder)."""
    parts = Path(rel).parts
    folders = [parts[i - 1] for i in range(1, len(parts)) if parts[i] == "db_storage"]
    if not folders:
        return ""
    folder = folders[-1]
    found = [u for u in known if u and (folder == u or folder.startswith(u + "_"))]
    return found[0] if len(found) == 1 else ""


class WeChat4Db:
    """WeChat 4.x `message_<N>.db`: one `Msg_<md5(talker)>` table per chat; `local_type` packs
    type and subtype; `message_content` is zstd-compressed when it starts with the zstd magic;
    `real_sender_id` is a `Name2Id` rowid; group bodies start with "wxid:\\n"."""

    name: ClassVar[str] = "wechat4_message_db"
    role: ClassVar[str] = "messages"
    _COLUMNS = ("local_id", "server_id", "local_type", "real_sender_id", "create_time", "status")
    _COLUMNS += ("message_content",)
    _REQUIRED = frozenset({"local_type", "create_time", "message_content"})

    def sniff(self, path: Path, head: bytes) -> bool:
        def fits(schema: Schema) -> bool:
            # A message_N.db may hold no chat yet; MSG*.db (3.x) has a Name2ID table too.
            empty = MESSAGE4_NAME.fullmatch(path.name) and "name2id" in schema.tables
            return bool(schema.msg4_tables() or empty) and "msg" not in schema.tables

        return _sniff(path, head, MESSAGE4_NAME, fits)

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        with open_database(path, ctx) as (con, schema):
            tables = schema.msg4_tables()
            if not tables and "name2id" not in schema.tables:
                raise ExportError(f"{rel}: no Msg_<md5> tables; not a WeChat 4.x message database")
            if _is_contacts4(schema):  # a merged database (contacts and messages in one file)
                read, _ = read_contacts4(con, schema, rel, ctx)
                ctx.note("contact_rows_read", read)
            names = self._name2id(con, schema)
            known = {*names.values(), *ctx.contacts.names, *ctx.contacts.chats}
            by_md5 = {_md5(u): u for u in known if u}
            chats = [_Chat(t, by_md5.get(t[4:].lower(), ""), _columns(con, t)) for t in tables]
            ctx.note("chats_without_known_id", sum(not c.talker for c in chats))
            owner = self._owner(con, chats, names, ctx)
            if not owner:
                owner = owner_from_path4(rel, set(names.values()))
                ctx.note("owner_from_folder_name", bool(owner))
            if owner:
                ctx.contacts.add_person(owner, owner=True)
            zstd = zstandard.ZstdDecompressor()
            number = 0
            for chat in chats:
                if self._REQUIRED - chat.columns:
                    # Not the layout this reads: every row is still accounted for.
                    missing = sorted(self._REQUIRED - chat.columns)
                    for (rowid,) in con.execute(f"SELECT rowid FROM {_quote(chat.table)}"):
                        number += 1
                        detail = f"{chat.table} rowid {rowid}: table lacks {missing}"
                        yield Dropped(rel, number, "unreadable_table", detail)
                    continue
                order = "local_id" if "local_id" in chat.columns else "rowid"
                for row in _select(con, chat.table, self._COLUMNS, order):
                    number += 1
                    yield self._row(row, number, chat, names, owner, zstd, rel, ctx)

    @staticmethod
    def _name2id(con: sqlite3.Connection, schema: Schema) -> dict[int, str]:
        """Name2Id rowid -> user name (wxid or chat id)."""
        if "name2id" not in schema.tables:
            return {}
        table = schema.tables["name2id"]
        columns = [_text(row[1]) for row in con.execute(f"PRAGMA table_info({_quote(table)})")]
        if not columns:
            return {}
        column = next((c for c in columns if c.lower() == "user_name"), columns[0])
        rows = con.execute(f"SELECT rowid, {_quote(column)} FROM {_quote(table)}")
        return {rowid: _text(name).strip() for rowid, name in rows}

    @staticmethod
    def _owner(con: sqlite3.Connection, chats: list[_Chat], names: dict[int, str], ctx: ParseContext) -> str:
        """The account's wxid: in a private chat every sender but the partner is the owner."""
        counts: Counter[str] = Counter()
        for chat in chats:
            if not chat.talker or group_chat_id(chat.talker) or "real_sender_id" not in chat.columns:
                continue
            query = f"SELECT real_sender_id, COUNT(*) FROM {_quote(chat.table)} GROUP BY real_sender_id"
            for sender_id, n in con.execute(query):
                sender = names.get(_int(sender_id) or 0, "")
                if sender and sender != chat.talker:
                    counts[sender] += n
        if not counts:
            return ""
        if len(counts) > 1:
            ctx.note("owner_candidates", len(counts))
        ctx.note("owner_from_private_chats")
        return counts.most_common(1)[0][0]

    def _row(
        self,
        row: tuple,
        number: int,
        chat: _Chat,
        names: dict[int, str],
        owner: str,
        zstd: zstandard.ZstdDecompressor,
        rel: str,
        ctx: ParseContext,
    ) -> Message | Dropped:
        rowid, local_id, server_id, local_type, real_sender_id, created, status, content = row
        where = f"{chat.table} local_id {_int(local_id) or rowid}"
        packed = _int(local_type)
        if packed is None:
            return Dropped(rel, number, "unknown_type", f"{where}: local_type is empty")
        type_, subtype = packed & 0xFFFFFFFF, packed >> 32
        if type_ not in KNOWN_TYPES:
            return Dropped(rel, number, "unknown_type", f"{where}: type {type_}")
        ts, why = _timestamp(created, ctx.timezone)
        if ts is None:
            return Dropped(rel, number, why, f"{where}: create_time is not a Unix time")
        raw = content if isinstance(content, bytes) else _text(content).encode("utf-8")
        if raw.startswith(ZSTD_MAGIC):
            try:
                body = zstd_frame(raw, zstd).decode("utf-8")
            except (zstandard.ZstdError, ValueError):  # UnicodeDecodeError is a ValueError
                return Dropped(rel, number, "undecodable_content", f"{where}: message_content is not zstd")
        else:
            body = raw.decode("utf-8", errors="replace")
            if "\ufffd" in body and b"\xef\xbf\xbd" not in raw:
                ctx.note("text_not_utf8")

        real = names.get(_int(real_sender_id) or 0, "")
        is_group = group_chat_id(chat.talker) if chat.talker else None
        prefix = ""
        if is_group is not False:
            prefix, rest = split_sender(body)
            # Own messages carry no prefix: a wxid-like "word:" opening the owner's text stays text.
            if prefix and not (real and real == owner and prefix != owner):
                body = rest
            else:
                prefix = ""
        if is_group is None:  # chat of unknown id: only group bodies name their sender
            is_group = bool(prefix)
        decoded = decode_content(type_, subtype, body)
        sender = prefix or real
        if sender and owner:
            is_self = sender == owner
        elif sender and is_group:
            is_self = not prefix  # others' group rows always name their sender
        elif sender and chat.talker:
            is_self = sender != chat.talker  # a private chat has two speakers
        else:
            is_self = _int(status) == 2  # no way to tell: 2 is "sent" (chatlog's reading of status)
            ctx.note("self_guessed_from_status", decoded.kind not in _NO_SPEAKER)
        if is_self:
            sender = owner or sender
        elif not is_group:
            sender = chat.talker or sender
        if is_group and not is_self and not sender and decoded.kind not in _NO_SPEAKER:
            ctx.note("group_sender_unknown")
        return _message(
            self.name, rel, number, chat.chat_id, is_group, ts, sender, is_self, decoded,
            _server_id(server_id), ctx,
        )  # fmt: skip
