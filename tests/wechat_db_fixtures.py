"""Builders for small decrypted WeChat PC databases, laid out and filled the way WeChat does
(wechat-formats.md §5–6): 3.x `MSG0.db` + `MicroMsg.db`, 4.x `message_0.db` + `contact.db`.

The conversations are the ones of `ingest_fixtures` (a family group and a private chat with mom),
stored as WeChat stores them: LZ4-block type-49 bodies and `BytesExtra` senders in 3.x,
`Msg_<md5(talker)>` tables, packed `local_type`, zstd bodies and "wxid:\\n" prefixes in 4.x.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import lz4.block
import zstandard
from ingest_fixtures import (
    AUNT,
    DAD,
    GROUP_ID,
    GROUP_NAME,
    ME,
    MOM,
    Msg,
    Person,
    at,
    family_group,
    private_chat,
)

PEOPLE = [ME, MOM, DAD, AUNT]
GROUP_NICKS = {DAD.wxid: "陈爸", AUNT.wxid: ""}  # group nicknames (DisplayNameList); "" = none set
ACCOUNT4 = f"{ME.wxid}_a1b2"  # 4.x account folder: wxid plus a short suffix

REVOKE_XML = (
    f'<sysmsg type="revokemsg"><revokemsg><session>{MOM.wxid}</session><msgid>1</msgid>'
    '<replacemsg><![CDATA["妈妈" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>'
)


def conversations() -> dict[str, list[Msg]]:
    """chat id -> messages: the family group and the private chat, plus a recall as 10002 XML."""
    private = [*private_chat(), Msg(at(2, 20, 5), None, REVOKE_XML, type=10002, svrid=8006)]
    return {GROUP_ID: family_group(), MOM.wxid: private}


# ---- protobuf writing (BytesExtra) ----


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def bytes_extra(sender: str | None, *, thumb: str = "") -> bytes:
    """`1{1:int,2:int}` then `3{1:kind,2:string}` entries: msgsource XML (kind 7) first, then the
    group sender (kind 1) when there is one, then a thumbnail path (kind 3)."""
    out = _field(1, _field(1, 0) + _field(2, 0))
    out += _field(3, _field(1, 7) + _field(2, b"<msgsource><silence>0</silence></msgsource>"))
    if sender:
        out += _field(3, _field(1, 1) + _field(2, sender.encode()))
    if thumb:
        out += _field(3, _field(1, 3) + _field(2, thumb.encode()))
    return out


def lz4_body(xml: str) -> bytes:
    """A type-49 `CompressContent`: a raw LZ4 block (no size header) of the XML with a trailing NUL."""
    return lz4.block.compress(xml.encode() + b"\x00", store_size=False)


def _insert(con: sqlite3.Connection, table: str, row: dict) -> None:
    con.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", [*row.values()]
    )


# ---- WeChat 3.x ----

MSG3_SCHEMA = """
CREATE TABLE MSG (localId INTEGER PRIMARY KEY AUTOINCREMENT, TalkerId INT DEFAULT 0, MsgSvrID INT,
  Type INT, SubType INT, IsSender INT, CreateTime INT, Sequence INT DEFAULT 0, StatusEx INT DEFAULT 0,
  FlagEx INT, Status INT, MsgServerSeq INT, MsgSequence INT, StrTalker TEXT, StrContent TEXT,
  DisplayContent TEXT, Reserved0 INT DEFAULT 0, Reserved1 INT DEFAULT 0, Reserved2 INT DEFAULT 0,
  Reserved3 INT DEFAULT 0, Reserved4 TEXT, Reserved5 TEXT, Reserved6 TEXT, CompressContent BLOB,
  BytesExtra BLOB, BytesTrans BLOB);
CREATE TABLE Name2ID (UsrName TEXT PRIMARY KEY);
"""
MICROMSG_SCHEMA = """
CREATE TABLE Contact (UserName TEXT PRIMARY KEY, Alias TEXT, EncryptUserName TEXT,
  DelFlag INTEGER DEFAULT 0, Type INTEGER DEFAULT 0, VerifyFlag INTEGER DEFAULT 0, Reserved1 INTEGER,
  Reserved2 INTEGER, Reserved3 TEXT, Reserved4 TEXT, Remark TEXT, NickName TEXT, LabelIDList TEXT,
  DomainList TEXT, ChatRoomType int, PYInitial TEXT, QuanPin TEXT, RemarkPYInitial TEXT,
  RemarkQuanPin TEXT, BigHeadImgUrl TEXT, SmallHeadImgUrl TEXT, HeadImgMd5 TEXT,
  ChatRoomNotify INTEGER DEFAULT 0, ExtraBuf BLOB);
CREATE TABLE ChatRoom (ChatRoomName TEXT PRIMARY KEY, UserNameList TEXT, DisplayNameList TEXT,
  ChatRoomFlag int Default 0, Owner INTEGER DEFAULT 0, IsShowName INTEGER DEFAULT 0,
  SelfDisplayName TEXT, Reserved1 INTEGER DEFAULT 0, Reserved2 TEXT, RoomData BLOB);
CREATE TABLE Session (strUsrName TEXT PRIMARY KEY, nOrder INT, strNickName TEXT, strContent TEXT);
"""


def msg3_row(chat_id: str, m: Msg) -> dict:
    """One MSG row as WeChat 3.x (Windows) writes it."""
    group = chat_id.endswith("@chatroom")
    own = m.sender == ME
    row = {
        "MsgSvrID": m.svrid,
        "Type": m.type,
        "SubType": m.sub,
        "IsSender": int(own),
        "CreateTime": int(m.at.timestamp()),
        "Sequence": int(m.at.timestamp()) * 1000,
        "Status": 2 if own else 3,
        "StrTalker": chat_id,
        "StrContent": m.content,
        "CompressContent": None,
        "BytesExtra": bytes_extra(m.sender.wxid if group and m.sender and not own else None),
    }
    if m.type == 49:  # the XML lives only in CompressContent
        row |= {"StrContent": "", "CompressContent": lz4_body(m.content)}
    return row


def msg3_db(path: Path, chats: dict[str, list[Msg]], extra_rows: list[dict] = ()) -> Path:
    """`MSG0.db` with the chats' rows in time order, then `extra_rows` (raw column values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(
        (msg3_row(chat_id, m) for chat_id, msgs in chats.items() for m in msgs),
        key=lambda r: r["CreateTime"],
    )
    con = sqlite3.connect(path)
    con.executescript(MSG3_SCHEMA)
    for row in [*rows, *extra_rows]:
        _insert(con, "MSG", row)
    con.executemany("INSERT INTO Name2ID VALUES (?)", [(c,) for c in chats])
    con.commit()
    con.close()
    return path


def micromsg_db(path: Path, people: list[Person] = PEOPLE, *, chatroom_sep: str = "^G") -> Path:
    """`MicroMsg.db`: every person and the group in `Contact`, the group's members in `ChatRoom`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(MICROMSG_SCHEMA)
    for p in people:
        con.execute(
            "INSERT INTO Contact (UserName, Alias, Remark, NickName, Type) VALUES (?, ?, ?, ?, 3)",
            (p.wxid, "", p.remark, p.nickname),
        )
    con.execute("INSERT INTO Contact (UserName, Alias, Remark, NickName, Type) VALUES (?, '', '', ?, 2)",
                (GROUP_ID, GROUP_NAME))  # fmt: skip
    members = [p.wxid for p in people]
    shown = [GROUP_NICKS.get(w, "") for w in members]
    con.execute(
        "INSERT INTO ChatRoom (ChatRoomName, UserNameList, DisplayNameList, RoomData) VALUES (?, ?, ?, ?)",
        (GROUP_ID, chatroom_sep.join(members), chatroom_sep.join(shown), b"\x0a\x00"),
    )
    con.commit()
    con.close()
    return path


def wechat3(root: Path, chats: dict[str, list[Msg]] | None = None, extra_rows: list[dict] = ()) -> dict:
    """`<root>/<my wxid>/Msg/{MicroMsg.db, Multi/MSG0.db}` as in `WeChat Files`."""
    account = root / ME.wxid / "Msg"
    chats = conversations() if chats is None else chats
    return {
        "contacts": micromsg_db(account / "MicroMsg.db"),
        "messages": msg3_db(account / "Multi" / "MSG0.db", chats, extra_rows),
    }


# ---- WeChat 4.x ----

CONTACT4_SCHEMA = """
CREATE TABLE contact (id INTEGER PRIMARY KEY, username TEXT, local_type INTEGER, alias TEXT,
  encrypt_username TEXT, flag INTEGER, delete_flag INTEGER, verify_flag INTEGER, remark TEXT,
  remark_quan_pin TEXT, remark_pin_yin_initial TEXT, nick_name TEXT, pin_yin_initial TEXT,
  quan_pin TEXT, big_head_url TEXT, small_head_url TEXT, head_img_md5 TEXT, chat_room_notify INTEGER,
  is_in_chat_room INTEGER, description TEXT, extra_buffer BLOB, chat_room_type INTEGER);
"""
MESSAGE4_SCHEMA = """
CREATE TABLE Name2Id (user_name TEXT PRIMARY KEY, is_session INTEGER);
CREATE TABLE Timestamp (timestamp INTEGER);
"""


def msg4_table(talker: str) -> str:
    return f"Msg_{hashlib.md5(talker.encode()).hexdigest()}"


def _create_msg4(con: sqlite3.Connection, talker: str) -> str:
    table = msg4_table(talker)
    con.execute(
        f"CREATE TABLE {table} (local_id INTEGER PRIMARY KEY AUTOINCREMENT, server_id INTEGER,"
        " local_type INTEGER, sort_seq INTEGER, real_sender_id INTEGER, create_time INTEGER,"
        " status INTEGER, upload_status INTEGER, download_status INTEGER, server_seq INTEGER,"
        " origin_source INTEGER, source TEXT, message_content TEXT, compress_content TEXT,"
        " packed_info_data BLOB, WCDB_CT_message_content INTEGER DEFAULT NULL,"
        " WCDB_CT_source INTEGER DEFAULT NULL)"
    )
    return table


def msg4_content(chat_id: str, m: Msg) -> bytes | str:
    """message_content: "wxid:\\n" before others' group bodies; XML and long texts zstd-compressed."""
    body = m.content
    if chat_id.endswith("@chatroom") and m.sender is not None and m.sender != ME:
        body = f"{m.sender.wxid}:\n{body}"
    if m.content.lstrip().startswith("<") or len(m.content) > 12:
        return zstandard.ZstdCompressor().compress(body.encode())
    return body


def message4_db(
    path: Path, chats: dict[str, list[Msg]], extra_rows: dict[str, list[dict]] | None = None
) -> Path:
    """`message_0.db`: one `Msg_<md5>` table per chat, senders as `Name2Id` rowids, then
    `extra_rows[talker]` (raw column values) appended to that chat's table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(MESSAGE4_SCHEMA)
    ids: dict[str, int] = {}

    def name_id(user: str) -> int:
        if user not in ids:
            cur = con.execute("INSERT INTO Name2Id VALUES (?, ?)", (user, int(user in chats)))
            ids[user] = cur.lastrowid
        return ids[user]

    for chat_id in chats:
        name_id(chat_id)
    for chat_id, msgs in chats.items():
        table = _create_msg4(con, chat_id)
        rows = [
            {
                "server_id": m.svrid,
                "local_type": m.type | m.sub << 32,
                "sort_seq": int(m.at.timestamp()) * 1000,
                "real_sender_id": name_id(m.sender.wxid) if m.sender else 0,
                "create_time": int(m.at.timestamp()),
                "status": 2 if m.sender == ME else 4,
                "message_content": msg4_content(chat_id, m),
            }
            for m in msgs
        ]
        for row in [*rows, *(extra_rows or {}).get(chat_id, [])]:
            _insert(con, table, row)
    con.execute("INSERT INTO Timestamp VALUES (1709251200)")
    con.commit()
    con.close()
    return path


def contact4_db(path: Path, people: list[Person] = PEOPLE) -> Path:
    """`contact.db`: people (local_type 1 friends) and the group (local_type 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(CONTACT4_SCHEMA)
    rows = [(p.wxid, 1, "", p.remark, p.nickname) for p in people] + [(GROUP_ID, 2, "", "", GROUP_NAME)]
    con.executemany(
        "INSERT INTO contact (username, local_type, alias, remark, nick_name) VALUES (?, ?, ?, ?, ?)", rows
    )
    con.commit()
    con.close()
    return path


def wechat4(
    root: Path, chats: dict[str, list[Msg]] | None = None, extra_rows: dict[str, list[dict]] | None = None
) -> dict:
    """`<root>/<my wxid>_<suffix>/db_storage/{contact/contact.db, message/message_0.db}`."""
    storage = root / ACCOUNT4 / "db_storage"
    return {
        "contacts": contact4_db(storage / "contact" / "contact.db"),
        "messages": message4_db(
            storage / "message" / "message_0.db", conversations() if chats is None else chats, extra_rows
        ),
    }


# ---- damaged inputs ----


def encrypted(path: Path, size: int = 8192) -> Path:
    """What WeChat leaves on disk before decryption: SQLCipher pages, no SQLite header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(hashlib.sha256(path.name.encode()).digest() * (size // 32))
    return path


def corrupt(path: Path) -> Path:
    """Keep the header and schema page, overwrite every later page: SQLite opens it, then fails."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))
    return path
