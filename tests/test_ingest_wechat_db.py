"""Decrypted WeChat PC databases (pipelines/ingest/formats/wechat_db.py), built the way WeChat writes
them (tests/wechat_db_fixtures.py): each parser alone, then the whole ingest over a folder of them."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import lz4.block
import pytest
import zstandard
from ingest_fixtures import AUNT, DAD, GROUP_ID, GROUP_NAME, ME, MOM, TZ, Msg, at, family_group, pywxdump_csv
from test_ingest import assert_accounted
from wechat_db_fixtures import (
    ACCOUNT4,
    bytes_extra,
    conversations,
    corrupt,
    encrypted,
    lz4_body,
    message4_db,
    micromsg_db,
    msg3_db,
    msg4_table,
    wechat3,
    wechat4,
)

from pipelines.ingest import run
from pipelines.ingest.formats import Contacts, ExportError, ParseContext
from pipelines.ingest.formats.wechat_db import (
    WeChat3Contacts,
    WeChat3Db,
    WeChat4Contacts,
    WeChat4Db,
    bytes_extra_sender,
    lz4_block,
)
from pipelines.ingest.schema import Dropped, Message

PARSERS = [WeChat3Contacts(), WeChat4Contacts(), WeChat3Db(), WeChat4Db()]

# (sender_id, is_self, kind, text) of every row, in time order, as the databases hold them.
GROUP_ROWS = [
    (MOM.wxid, False, "text", "早上好@小明\u2005记得吃早饭"),
    (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),
    (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),
    (DAD.wxid, False, "image", ""),
    (MOM.wxid, False, "quote", "这张拍得好"),
    (AUNT.wxid, False, "text", "hello everyone, 周末一起吃饭吗？"),
    ("", False, "system", '"老陈" 拍了拍 "小明"'),
    (MOM.wxid, False, "link", "养生小知识"),
    (DAD.wxid, False, "voice", ""),
    ("", False, "recall", '"老陈"撤回了一条消息'),
]
PRIVATE_ROWS = [
    (MOM.wxid, False, "text", "吃饭了吗，孩子"),
    (ME.wxid, True, "text", "吃了，妈你呢"),
    (MOM.wxid, False, "location", "外滩"),
    (MOM.wxid, False, "transfer", "￥200.00 买菜"),
    (ME.wxid, True, "text", "谢谢妈\r\n爱你"),
    ("", False, "recall", '"妈妈" 撤回了一条消息'),  # <sysmsg type="revokemsg"> (10002)
]
LAYOUTS = {"3.x": (wechat3, WeChat3Contacts(), WeChat3Db()), "4.x": (wechat4, WeChat4Contacts(), WeChat4Db())}


@pytest.fixture
def chats(data_dir: Path) -> Path:
    return data_dir / "raw" / "chats"


@pytest.fixture
def ingest(make_cfg, chats):
    def go(*overrides: str):
        return run(make_cfg(*overrides), chats)

    return go


def context(root: Path) -> ParseContext:
    return ParseContext(TZ, Contacts(), root)


def parse(parser, path: Path, ctx: ParseContext) -> tuple[list[Message], list[Dropped]]:
    records = list(parser.parse(path, ctx))
    return [r for r in records if isinstance(r, Message)], [r for r in records if isinstance(r, Dropped)]


def speakers(messages: list[Message], chat_id: str) -> list[tuple]:
    ordered = sorted((m for m in messages if m.chat_id == chat_id), key=lambda m: (m.ts, m.msg_id))
    return [(m.sender_id, m.is_self, str(m.kind), m.text) for m in ordered]


def claimed_by(path: Path) -> list[str]:
    head = path.read_bytes()[:4096]
    return [type(p).__name__ for p in PARSERS if p.sniff(path, head)]


# ---- the pieces ----


def test_bytes_extra_sender_is_the_first_kind_1_entry_after_other_entries():
    assert bytes_extra_sender(bytes_extra(DAD.wxid, thumb="FileStorage/Image/Thumb/a.dat")) == DAD.wxid
    assert bytes_extra_sender(bytes_extra(None, thumb="FileStorage/Image/Thumb/a.dat")) == ""
    with pytest.raises(ValueError):
        bytes_extra_sender(bytes_extra(DAD.wxid)[:-3])  # cut inside the sender's string


def test_lz4_blocks_without_a_size_header_decompress_whatever_their_ratio():
    xml = "<msg><appmsg><title>" + "很长的标题" * 20000 + "</title></appmsg></msg>"
    block = lz4_body(xml)
    assert len(xml.encode()) > 8 * len(block)  # beyond the first output-size guess
    assert lz4_block(block).rstrip(b"\x00").decode() == xml
    with pytest.raises(lz4.block.LZ4BlockError):
        lz4_block(b"\xff" * 40)


@pytest.mark.parametrize("separator", ["^G", "\x07"])
def test_wechat3_contacts_give_remarks_nicknames_group_name_and_member_nicknames(tmp_path, separator):
    path = micromsg_db(tmp_path / "MicroMsg.db", chatroom_sep=separator)
    ctx = context(tmp_path)
    assert parse(WeChat3Contacts(), path, ctx) == ([], [])
    assert ctx.contacts.shown == {ME.wxid: "小明", MOM.wxid: "妈妈", DAD.wxid: "爸爸", AUNT.wxid: "Tom Zhao"}
    assert ctx.contacts.names[DAD.wxid] == {"爸爸", "老陈", "陈爸"}  # "陈爸": his group nickname
    assert ctx.contacts.chats == {GROUP_ID: (GROUP_NAME, True)}
    assert ctx.notes == {"rows_read": 6}  # 4 people + the group in Contact, 1 ChatRoom row


def test_wechat4_contacts_give_remarks_nicknames_and_the_group_name(tmp_path):
    path = wechat4(tmp_path)["contacts"]
    ctx = context(tmp_path)
    assert parse(WeChat4Contacts(), path, ctx) == ([], [])
    assert ctx.contacts.shown[MOM.wxid] == "妈妈" and ctx.contacts.names[MOM.wxid] == {"妈妈", "Meilan 🌻"}
    assert ctx.contacts.chats == {GROUP_ID: (GROUP_NAME, True)}
    assert ctx.notes == {"rows_read": 5}


# ---- each message parser on its own database ----


@pytest.mark.parametrize("layout", LAYOUTS)
def test_messages_have_speakers_kinds_texts_and_server_ids(tmp_path, layout):
    build, contacts_parser, parser = LAYOUTS[layout]
    paths = build(tmp_path)
    ctx = context(tmp_path)
    parse(contacts_parser, paths["contacts"], ctx)
    messages, dropped = parse(parser, paths["messages"], ctx)
    assert dropped == []
    assert speakers(messages, GROUP_ID) == GROUP_ROWS
    assert speakers(messages, MOM.wxid) == PRIVATE_ROWS
    by_id = {m.msg_id: m for m in messages}
    assert set(by_id) == {str(m.svrid) for msgs in conversations().values() for m in msgs}
    quote = by_id["9005"]
    assert (quote.quote_of, quote.quote_sender) == ("记得吃早饭", "妈妈")
    assert by_id["9004"].media_ref == "0123456789abcdef0123456789abcdef"
    assert by_id["9001"].ts == at(1, 8, 0) and by_id["9001"].ts.tzinfo is not None
    assert {(m.chat_id, m.chat_name, m.is_group) for m in messages} == {
        (GROUP_ID, GROUP_NAME, True),
        (MOM.wxid, "妈妈", False),
    }
    assert ctx.contacts.owners == {ME.wxid}  # from the account folder (3.x) or private chats (4.x)
    assert all(m.source_format == parser.name for m in messages)


def test_wechat4_bodies_are_really_zstd_and_subtypes_really_packed(tmp_path):
    """Guards the fixture: the 4.x test above reads compressed bodies and packed types."""
    path = wechat4(tmp_path)["messages"]
    con = sqlite3.connect(path)
    table = msg4_table(GROUP_ID)
    rows = con.execute(f"SELECT local_type, message_content FROM {table} WHERE server_id = 9005").fetchall()
    con.close()
    [(local_type, content)] = rows
    assert local_type == 49 | 57 << 32 and content[:4] == b"\x28\xb5\x2f\xfd"
    assert (
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress(content)
        .startswith(MOM.wxid.encode() + b":\n")
    )


def test_wechat3_group_sender_from_a_macos_style_prefix_when_bytes_extra_has_none(tmp_path):
    row = {"MsgSvrID": 1, "Type": 1, "SubType": 0, "IsSender": 0, "CreateTime": int(at(3, 9, 0).timestamp())}
    row |= {"StrTalker": GROUP_ID, "StrContent": f"{DAD.wxid}:\n到家了", "BytesExtra": bytes_extra(None)}
    path = msg3_db(tmp_path / "MSG0.db", {}, [row])
    messages, _ = parse(WeChat3Db(), path, context(tmp_path))
    assert speakers(messages, GROUP_ID) == [(DAD.wxid, False, "text", "到家了")]


def test_wechat4_owner_text_that_looks_like_a_sender_prefix_is_kept_whole(tmp_path):
    chats = {MOM.wxid: [Msg(at(2, 9, 0), ME, "早")], GROUP_ID: [Msg(at(2, 9, 1), ME, "Reminder:\n明天聚餐")]}
    path = message4_db(tmp_path / "message_0.db", chats)
    messages, _ = parse(WeChat4Db(), path, context(tmp_path))
    assert speakers(messages, GROUP_ID) == [(ME.wxid, True, "text", "Reminder:\n明天聚餐")]


def test_wechat4_chat_without_a_known_id_is_kept_under_a_local_id(tmp_path):
    path = message4_db(tmp_path / "message_0.db", {GROUP_ID: family_group()[:2]})
    con = sqlite3.connect(path)
    con.execute("DELETE FROM Name2Id WHERE user_name = ?", (GROUP_ID,))
    con.commit()
    con.close()
    ctx = context(tmp_path)
    messages, dropped = parse(WeChat4Db(), path, ctx)
    local = f"local:{hashlib.md5(GROUP_ID.encode()).hexdigest()}"
    assert dropped == [] and {m.chat_id for m in messages} == {local}
    assert any(m.is_group for m in messages)  # a "wxid:\n" prefix shows it is a group
    assert speakers(messages, local) == GROUP_ROWS[:2]
    assert ctx.notes["chats_without_known_id"] == 1


def test_a_merged_database_reads_its_own_contacts_before_its_messages(tmp_path):
    merged = msg3_db(tmp_path / "merge_all.db", conversations())
    micromsg_db(merged)  # PyWxDump's merge: Contact and ChatRoom beside MSG in one file
    assert claimed_by(merged) == ["WeChat3Db"]
    ctx = context(tmp_path)
    messages, _ = parse(WeChat3Db(), merged, ctx)
    assert {m.chat_name for m in messages} == {GROUP_NAME, "妈妈"}
    assert ctx.notes["contact_rows_read"] == 6


# ---- recognising files ----


def test_sniff_claims_wechat_databases_and_encrypted_files_named_like_them(tmp_path):
    three, four = wechat3(tmp_path / "v3"), wechat4(tmp_path / "v4")
    assert claimed_by(three["contacts"]) == ["WeChat3Contacts"]
    assert claimed_by(three["messages"]) == ["WeChat3Db"]
    assert claimed_by(four["contacts"]) == ["WeChat4Contacts"]
    assert claimed_by(four["messages"]) == ["WeChat4Db"]
    for name, parser in [
        ("MicroMsg.db", "WeChat3Contacts"),
        ("MSG3.db", "WeChat3Db"),
        ("contact.db", "WeChat4Contacts"),
        ("message_2.db", "WeChat4Db"),
    ]:
        assert claimed_by(encrypted(tmp_path / "enc" / name)) == [parser]
    for name in ("notes.db", "MSG9.db"):  # SQLite, but not WeChat's tables: not claimed, even by name
        con = sqlite3.connect(tmp_path / name)
        con.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
        con.commit()
        con.close()
        assert (tmp_path / name).read_bytes().startswith(b"SQLite format 3\x00")
        assert claimed_by(tmp_path / name) == []
    assert claimed_by(encrypted(tmp_path / "enc" / "Misc.db")) == []


def test_an_encrypted_database_raises_a_clear_error_naming_the_file(tmp_path):
    path = encrypted(tmp_path / "MSG0.db")
    with pytest.raises(ExportError, match=r"^MSG0\.db: .*encrypted.*decrypt it first"):
        list(WeChat3Db().parse(path, context(tmp_path)))


# ---- through ingest ----


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ingest_reads_a_database_folder_with_names_from_the_contacts(chats, ingest, layout):
    build, contacts_parser, parser = LAYOUTS[layout]
    paths = build(chats)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()}
    listing = sorted(chats.rglob("*"))
    result = ingest()
    # The inputs are untouched: same bytes, and no -journal, -wal or -shm left beside them.
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()} == before
    assert sorted(chats.rglob("*")) == listing
    df = result.messages
    group = df[df["chat_id"] == GROUP_ID]
    assert set(group["chat_name"]) == {GROUP_NAME} and group["is_group"].all()
    assert (
        list(zip(group["sender_id"], group["is_self"], group["kind"], group["text"], strict=True))
        == GROUP_ROWS
    )
    names = dict(zip(df["sender_id"], df["sender_name"], strict=True))
    assert names == {MOM.wxid: "妈妈", ME.wxid: "小明", DAD.wxid: "爸爸", AUNT.wxid: "Tom Zhao", "": ""}
    assert set(df.loc[df["chat_id"] == MOM.wxid, "chat_name"]) == {"妈妈"}
    report = result.report
    files = report["files"]
    rel = {k: p.relative_to(chats).as_posix() for k, p in paths.items()}
    assert files[rel["contacts"]]["format"] == contacts_parser.name
    assert files[rel["messages"]]["format"] == parser.name
    assert files[rel["messages"]]["rows_read"] == 16 and files[rel["messages"]]["kept"] == 16
    assert report["files_failed"] == {}
    assert_accounted(report)


def test_database_copy_wins_over_a_pywxdump_export_of_the_same_chat(chats, ingest):
    wechat3(chats)
    pywxdump_csv(chats, GROUP_ID, family_group())
    result = ingest()
    assert len(result.messages) == 16
    assert set(result.messages["source_format"]) == {"wechat3_msg_db"}
    [csv_file] = [f for f in result.report["files"].values() if f["format"] == "pywxdump_csv"]
    assert csv_file["duplicates"] == 10
    assert_accounted(result.report)


def test_encrypted_and_damaged_databases_are_reported_and_the_other_files_are_read(chats, ingest):
    wechat3(chats)
    encrypted(chats / ME.wxid / "Msg" / "Multi" / "MSG1.db")
    encrypted(chats / ACCOUNT4 / "db_storage" / "contact" / "contact.db")
    encrypted(chats / ACCOUNT4 / "db_storage" / "message" / "message_0.db")
    damaged = msg3_db(chats / "backup" / "MSG2.db", {MOM.wxid: [Msg(at(4, 9, 0), MOM, "x" * 50)] * 200})
    corrupt(damaged)
    result = ingest()
    failed = result.report["files_failed"]
    locked = {
        f"{ACCOUNT4}/db_storage/contact/contact.db",
        f"{ACCOUNT4}/db_storage/message/message_0.db",
        f"{ME.wxid}/Msg/Multi/MSG1.db",
    }
    assert set(failed) == locked | {"backup/MSG2.db"}
    for rel in locked:
        assert failed[rel].startswith(f"{rel}: ") and "encrypted" in failed[rel] and "decrypt" in failed[rel]
    assert failed["backup/MSG2.db"].startswith("backup/MSG2.db: the database is damaged")
    assert "decrypt it again" in failed["backup/MSG2.db"]
    assert len(result.messages) == 16
    assert_accounted(result.report)


def _bad_rows3() -> list[dict]:
    base = {"MsgSvrID": 0, "SubType": 0, "IsSender": 0, "StrTalker": MOM.wxid, "StrContent": ""}
    when = int(at(5, 9, 0).timestamp())
    return [
        base | {"Type": 49, "SubType": 5, "CreateTime": when, "CompressContent": b"\xf0\x00\xff\xff\xff"},
        base | {"Type": 9999, "CreateTime": when, "StrContent": "?"},
        base | {"Type": 1, "CreateTime": None, "StrContent": "密"},
        base | {"Type": 1, "CreateTime": when, "StrTalker": "", "StrContent": "密"},
    ]


def _bad_rows4() -> dict[str, list[dict]]:
    when = int(at(5, 9, 0).timestamp())
    return {
        MOM.wxid: [
            {"local_type": 49 | 5 << 32, "create_time": when, "message_content": b"\x28\xb5\x2f\xfd\x00junk"},
            {
                "local_type": 1,
                "create_time": when,
                "message_content": zstandard.compress(("密" * 40).encode())[:-6],
            },
            {"local_type": 9999, "create_time": when, "message_content": "?"},
            {"local_type": 1, "create_time": 0, "message_content": "密"},
        ]
    }


@pytest.mark.parametrize(
    ("build", "extra", "reasons"),
    [
        (wechat3, _bad_rows3, {"undecodable_content": 1, "unknown_type": 1, "missing_time": 1, "no_chat": 1}),
        (wechat4, _bad_rows4, {"undecodable_content": 2, "unknown_type": 1, "missing_time": 1}),
    ],
    ids=["3.x", "4.x"],
)
def test_unreadable_rows_are_dropped_with_a_reason_and_no_content(chats, ingest, build, extra, reasons):
    paths = build(chats, extra_rows=extra())
    result = ingest()
    entry = result.report["files"][paths["messages"].relative_to(chats).as_posix()]
    assert entry["dropped"] == reasons
    assert entry["kept"] == 16 and entry["rows_read"] == 16 + sum(reasons.values())
    assert all("密" not in row["detail"] for row in entry["dropped_rows"])
    assert_accounted(result.report)
