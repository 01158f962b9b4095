"""Each export format, read from a file written the way its tool writes it (tests/ingest_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from ingest_fixtures import (
    AUNT,
    DAD,
    GROUP_ID,
    GROUP_NAME,
    LINK_XML,
    ME,
    MOM,
    TZ,
    Msg,
    at,
    chatlog_csv,
    chatlog_json,
    chatlog_text,
    family_group,
    memotrace_chat_txt,
    memotrace_csv,
    memotrace_txt,
    private_chat,
    pywxdump_csv,
    pywxdump_json,
    pywxdump_users,
    quote_xml,
    transfer_xml,
)

from pipelines.ingest import run
from pipelines.ingest.formats import Contacts, ParseContext
from pipelines.ingest.formats.appmsg import decode_content, kind_for, parse_appmsg, parse_sysmsg
from pipelines.ingest.formats.chatlog import parse_rendered
from pipelines.ingest.formats.memotrace import MemoTraceCsv
from pipelines.ingest.schema import COLUMNS, Kind, Message


@pytest.fixture
def chats(data_dir: Path) -> Path:
    return data_dir / "raw" / "chats"


@pytest.fixture
def ingest(make_cfg, chats):
    def go(*overrides: str):
        return run(make_cfg(*overrides), chats)

    return go


def only_file(report: dict) -> dict:
    [entry] = [f for f in report["files"].values() if f["role"] == "messages"]
    return entry


def rows(df: pd.DataFrame) -> list[tuple]:
    return list(df[["sender_id", "is_self", "kind", "text"]].itertuples(index=False, name=None))


# ---- MemoTrace CSV ----


def test_memotrace_group_csv_reads_every_kind_with_wxids_and_exact_times(chats, ingest):
    path = memotrace_csv(chats, GROUP_NAME, family_group(), group=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    result = ingest()
    df = result.messages
    assert list(df.columns) == COLUMNS
    assert isinstance(df["ts"].dtype, pd.DatetimeTZDtype)
    assert df["ts"].iloc[0] == pd.Timestamp("2024-03-01 08:00", tz=TZ)
    assert rows(df) == [
        (MOM.wxid, False, "text", "早上好@小明\u2005记得吃早饭"),  # mention spacing kept for anonymize
        (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),  # quoted newline inside a CSV field
        (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),
        (DAD.wxid, False, "image", ""),
        (MOM.wxid, False, "quote", ""),  # type-49 bodies are not in MemoTrace CSV: kind from SubType
        (AUNT.wxid, False, "text", "hello everyone, 周末一起吃饭吗？"),
        ("", False, "system", '"老陈" 拍了拍 "小明"'),
        (MOM.wxid, False, "link", ""),
        (DAD.wxid, False, "voice", ""),
        ("", False, "recall", '"老陈"撤回了一条消息'),
    ]
    assert df.loc[df["kind"] == "image", "media_ref"].item() == "0123456789abcdef0123456789abcdef"
    # Remark "Tom_Zhao" is only the sanitised nickname: the nickname is the better name.
    assert df.loc[df["sender_id"] == AUNT.wxid, "sender_name"].item() == "Tom Zhao"
    assert df.loc[df["sender_id"] == MOM.wxid, "sender_name"].iloc[0] == "妈妈"
    assert df["is_group"].all() and set(df["chat_name"]) == {GROUP_NAME}
    assert only_file(result.report)["notes"]["appmsg_without_content"] == 2


def test_memotrace_private_csv_takes_the_partner_wxid_as_chat_id(chats, ingest):
    memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    df = ingest().messages
    assert set(df["chat_id"]) == {MOM.wxid} and not df["is_group"].any()
    assert set(df.loc[~df["is_self"], "sender_id"]) == {MOM.wxid}
    assert df.loc[df["kind"] == "location", "text"].item() == "外滩"
    assert df["kind"].tolist() == ["text", "text", "location", "transfer", "text"]
    assert df["text"].iloc[-1] == "谢谢妈\r\n爱你"  # the sender's own line break, as sent


def test_memotrace_old_nine_column_private_csv_has_no_sender_columns(chats, ingest):
    memotrace_csv(chats, "妈妈", private_chat(), group=False, nine_columns=True)
    df = ingest().messages
    # Nothing in the file names the partner but the file name: a name-derived id, same for the chat.
    assert set(df["chat_id"]) == {"name:妈妈"}
    assert set(df.loc[~df["is_self"], "sender_id"]) == {"name:妈妈"}
    assert set(df.loc[df["is_self"], "sender_id"]) == {"self"}  # owner's wxid unknown


def test_memotrace_csv_with_12_column_header_but_9_field_private_rows(chats, ingest):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, nine_columns=True)
    header = (
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    )
    data = path.read_bytes().split(b"\r\n", 1)[1]
    path.write_bytes(b"\xef\xbb\xbf" + header.encode() + b"\r\n" + data)
    result = ingest()
    assert len(result.messages) == 5 and only_file(result.report)["dropped"] == {}


def test_memotrace_export_all_messages_csv_uses_display_names(chats, ingest):
    header = (
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    )
    lines = [
        header,
        f"1,3,1,0,0,{int(at(2, 9, 0).timestamp())},2,在吗,2024-03-02 09:00:00,妈妈,Meilan 🌻,妈妈",
        f"2,3,1,0,1,{int(at(2, 9, 1).timestamp())},2,在的,2024-03-02 09:01:00,妈妈,Meilan 🌻,我",
    ]
    (chats / "messages.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    df = ingest().messages
    assert df[["sender_name", "is_self"]].values.tolist() == [["妈妈", False], ["", True]]
    assert df["chat_id"].iloc[0] == "name:妈妈" and not df["is_group"].any()


# ---- MemoTrace TXT ----


def test_memotrace_txt_recovers_names_times_placeholders_quotes_and_links(chats, ingest):
    memotrace_txt(chats, GROUP_NAME, family_group())
    df = ingest().messages
    assert df[["sender_name", "kind", "text"]].values.tolist() == [
        ["妈妈", "text", "早上好@小明\u2005记得吃早饭"],
        ["小明", "text", "好的妈，马上吃\n今天降温了"],
        ["小明", "text", "好的妈，马上吃\n今天降温了"],
        ["爸爸", "image", ""],
        ["妈妈", "quote", "这张拍得好"],
        ["Tom Zhao", "text", "hello everyone, 周末一起吃饭吗？"],
        ["", "system", '"老陈" 拍了拍 "小明"'],
        ["妈妈", "link", "养生小知识"],
        ["爸爸", "voice", ""],
        ["", "recall", '"老陈"撤回了一条消息'],
    ]
    quote = df[df["kind"] == "quote"].iloc[0]
    assert (quote["quote_of"], quote["quote_sender"]) == ("记得吃早饭", "妈妈")
    assert df["ts"].iloc[5] == pd.Timestamp("2024-03-01 08:04", tz=TZ)  # local time in ingest.timezone
    assert df["is_group"].all()


def test_memotrace_txt_private_chat_knows_the_owner_from_the_file_name(chats, ingest):
    memotrace_txt(chats, "妈妈", private_chat())
    df = ingest().messages
    # Two names and the file is named after one: the other is the owner.
    assert df[["sender_name", "is_self"]].values.tolist() == [["妈妈", False], ["小明", True], ["小明", True]]
    assert not df["is_group"].any()


def test_memotrace_txt_message_with_an_empty_line_stays_one_message(chats, ingest):
    memotrace_txt(chats, "妈妈", [Msg(at(2, 20, 0), MOM, "第一段\n\n第二段"), Msg(at(2, 20, 1), ME, "收到")])
    assert ingest().messages["text"].tolist() == ["第一段\n\n第二段", "收到"]


def test_memotrace_chat_txt_keeps_runs_with_synthetic_times_and_says_so(chats, ingest):
    msgs = [*private_chat(), Msg(at(3, 7, 0), MOM, "早安"), Msg(at(3, 7, 1), MOM, "今天下雨")]
    path = memotrace_chat_txt(chats, "妈妈", msgs)
    assert "*" * 20 + "2024-03-02" + "*" * 20 in path.read_text(encoding="utf-8")
    result = ingest()
    df = result.messages
    assert df[["is_self", "text"]].values.tolist() == [
        [False, "吃饭了吗，孩子"],
        [True, "吃了，妈你呢 谢谢妈\n爱你"],  # one run: message boundaries are not in the file
        [False, "早安 今天下雨"],
    ]
    assert df["ts"].tolist() == [
        pd.Timestamp("2024-03-02 00:00:00", tz=TZ),
        pd.Timestamp("2024-03-02 00:00:01", tz=TZ),
        pd.Timestamp("2024-03-03 00:00:00", tz=TZ),
    ]
    notes = only_file(result.report)["notes"]
    assert (notes["time_to_the_day"], notes["runs_not_split_into_messages"]) == (3, 3)


# ---- PyWxDump ----


def test_pywxdump_csv_renderings_become_kinds_texts_and_server_ids(chats, ingest):
    path = pywxdump_csv(chats, GROUP_ID, family_group(), cli_self=True)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    df = ingest().messages
    assert df["msg_id"].tolist() == [str(9001 + i) for i in range(10)]
    assert rows(df) == [
        (MOM.wxid, False, "text", "早上好@小明\u2005记得吃早饭"),
        (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),  # talker "我": owner from the export path
        (ME.wxid, True, "text", "好的妈，马上吃\n今天降温了"),
        (DAD.wxid, False, "image", ""),
        (MOM.wxid, False, "quote", "这张拍得好"),
        (AUNT.wxid, False, "text", "hello everyone, 周末一起吃饭吗？"),
        ("", False, "system", '"老陈" 拍了拍 "小明"'),
        (MOM.wxid, False, "link", "养生小知识"),
        (DAD.wxid, False, "voice", "我到楼下了"),  # WeChat's own transcription
        ("", False, "recall", '"老陈"撤回了一条消息'),
    ]
    quote = df[df["kind"] == "quote"].iloc[0]
    assert (quote["quote_of"], quote["quote_sender"]) == ("记得吃早饭", "妈妈")
    assert df.loc[df["kind"] == "image", "media_ref"].item() == "FileStorage/Image/2024-03/abc.dat"
    assert set(df["chat_id"]) == {GROUP_ID} and df["is_group"].all()


def test_pywxdump_users_json_names_chats_and_speakers(chats, ingest):
    pywxdump_csv(chats, MOM.wxid, private_chat())
    pywxdump_users(chats, [ME, MOM])
    result = ingest()
    df = result.messages
    assert set(df["chat_name"]) == {"妈妈"}
    assert set(df.loc[~df["is_self"], "sender_name"]) == {"妈妈"}  # PyWxDump shows wxids only
    assert df.loc[df["kind"] == "transfer", "text"].item() == "转账：￥200.00\n买菜"
    users = result.report["files"]["export/wxid_me_0001/csv/users.json"]
    assert users == {
        "format": "pywxdump_users",
        "role": "contacts",
        "rows_read": 2,
        "kept": 2,
        "kept_by_kind": {},
        "dropped": {},
        "duplicates": 0,
    }


def test_pywxdump_resaved_csv_with_minute_times_is_read_and_noted(chats, ingest):
    path = pywxdump_csv(chats, MOM.wxid, private_chat())
    text = path.read_text(encoding="utf-8").replace("2024-03-02 20:01:00", "2024/3/2 20:01")
    path.write_text(text, encoding="utf-8", newline="")
    result = ingest()
    assert result.messages["ts"].iloc[1] == pd.Timestamp("2024-03-02 20:01", tz=TZ)
    assert only_file(result.report)["notes"]["time_to_the_minute"] == 1


@pytest.mark.parametrize("content_variant", [False, True], ids=["json", "early-2024 content json"])
def test_pywxdump_json_matches_the_csv(chats, ingest, content_variant):
    pywxdump_json(chats, GROUP_ID, family_group(), content_variant=content_variant)
    df = ingest().messages
    assert df["kind"].tolist() == [
        "text",
        "text",
        "text",
        "image",
        "quote",
        "text",
        "system",
        "link",
        "voice",
        "recall",
    ]
    assert df["msg_id"].iloc[0] == "9001" and df["text"].iloc[7] == "养生小知识"


# ---- chatlog ----


def test_chatlog_csv_renders_tokens_and_tells_own_rows_from_notices(chats, ingest):
    chatlog_csv(chats, "family", GROUP_ID, GROUP_NAME, family_group())
    result = ingest()
    df = result.messages
    assert rows(df)[3:10] == [
        (DAD.wxid, False, "image", ""),
        (MOM.wxid, False, "quote", "这张拍得好"),
        (AUNT.wxid, False, "text", "hello everyone, 周末一起吃饭吗？"),
        ("", False, "system", '"老陈" 拍了拍 "小明"'),
        (MOM.wxid, False, "link", "养生小知识"),
        (DAD.wxid, False, "voice", ""),
        ("", False, "recall", '"老陈"撤回了一条消息'),
    ]
    # Own rows have no sender in 3.x data: not a notice by wording, so the owner.
    assert df["is_self"].tolist()[:3] == [False, True, True]
    assert set(df["chat_name"]) == {GROUP_NAME}


def test_chatlog_json_keeps_the_instant_of_rfc3339_times_and_decodes_xml(chats, ingest):
    msgs = [
        Msg(at(2, 20, 0), MOM, "吃饭了吗"),
        Msg(at(2, 20, 3), MOM, transfer_xml("￥88.00"), type=49, sub=2000),
        Msg(at(2, 20, 4), MOM, quote_xml("好的", "吃饭了吗", MOM), type=49, sub=57),
        Msg(at(2, 20, 5), ME, LINK_XML, type=49, sub=5),
    ]
    path = chatlog_json(chats, "mom", MOM.wxid, MOM.shown, msgs)
    records = json.loads(path.read_text(encoding="utf-8"))
    records[0]["time"] = "2024-03-02T13:00:00+01:00"  # written on a PC in another zone: same instant
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    df = ingest().messages
    assert df["ts"].iloc[0] == pd.Timestamp("2024-03-02 20:00", tz=TZ)
    assert str(df["ts"].dt.tz) == "Asia/Shanghai"
    assert rows(df) == [
        (MOM.wxid, False, "text", "吃饭了吗"),
        (MOM.wxid, False, "transfer", "￥88.00 买菜"),
        (MOM.wxid, False, "quote", "好的"),
        (ME.wxid, True, "link", "养生小知识"),
    ]
    assert df["quote_of"].iloc[2] == "吃饭了吗"


def test_chatlog_text_headers_tokens_and_quote_blocks(chats, ingest):
    chatlog_text(chats, GROUP_ID, family_group())
    df = ingest().messages
    assert set(df["chat_id"]) == {GROUP_ID}  # the file is named after the chat
    assert rows(df)[:5] == [
        (MOM.wxid, False, "text", "早上好@小明\u2005记得吃早饭"),
        ("self", True, "text", "好的妈，马上吃\n今天降温了"),  # "小明(我)": the owner, wxid not shown
        ("self", True, "text", "好的妈，马上吃\n今天降温了"),
        (DAD.wxid, False, "image", ""),
        (MOM.wxid, False, "quote", "这张拍得好"),
    ]
    assert df["quote_of"].iloc[4] == "记得吃早饭" and df["quote_sender"].iloc[4] == "妈妈"


def test_chatlog_text_short_times_take_the_year_from_the_file_name(chats, ingest):
    msgs = private_chat()[:2]
    chatlog_text(chats, "mom_2024", msgs, time_format="%m-%d %H:%M:%S")
    chatlog_text(chats, "mom_undated", msgs, time_format="%m-%d %H:%M:%S")
    result = ingest()
    assert result.messages["ts"].iloc[0] == pd.Timestamp("2024-03-02 20:00", tz=TZ)
    undated = result.report["files"]["chatlog/mom_undated.txt"]
    assert undated["dropped"] == {"time_without_date": 2} and undated["kept"] == 0


# ---- WeChat codes and XML (shared with the database readers) ----


@pytest.mark.parametrize(
    ("codes", "kind"),
    [
        ((1, 0), Kind.TEXT),
        ((3, 0), Kind.IMAGE),
        ((34, 0), Kind.VOICE),
        ((43, 0), Kind.VIDEO),
        ((47, 0), Kind.STICKER),
        ((48, 0), Kind.LOCATION),
        ((50, 0), Kind.CALL),
        ((49, 5), Kind.LINK),
        ((49, 6), Kind.FILE),
        ((49, 19), Kind.OTHER),
        ((49, 33), Kind.LINK),
        ((49, 57), Kind.QUOTE),
        ((49, 2000), Kind.TRANSFER),
        ((49, 2001), Kind.RED_PACKET),
        ((10000, 0), Kind.SYSTEM),
        ((10000, 4), Kind.SYSTEM),
        ((10000, 57), Kind.RECALL),
        ((10000, 8000), Kind.SYSTEM),
        ((99999, 0), Kind.OTHER),
    ],
)
def test_kind_for_type_codes(codes, kind):
    assert kind_for(*codes) is kind


def test_parse_appmsg_fields():
    quote = parse_appmsg(quote_xml("这张拍得好", "记得吃早饭", MOM))
    assert (quote["type"], quote["text"], quote["quote_of"], quote["quote_sender"]) == (
        57,
        "这张拍得好",
        "记得吃早饭",
        "妈妈",
    )
    assert quote["quote_sender_id"] == MOM.wxid
    transfer = parse_appmsg(transfer_xml("￥200.00"))
    assert (transfer["amount"], transfer["memo"], transfer["pay_subtype"]) == ("￥200.00", "买菜", 1)
    red = parse_appmsg(
        "<msg><appmsg><title>微信红包</title><type>2001</type><wcpayinfo><sendertitle>恭喜发财，大吉大利"
        "</sendertitle></wcpayinfo></appmsg></msg>"
    )
    assert red["text"] == "恭喜发财，大吉大利"
    forward = parse_appmsg(
        "<msg><appmsg><title>群聊的聊天记录</title><type>19</type><recorditem><![CDATA[<recordinfo>"
        '<datalist><dataitem datatype="1"/><dataitem datatype="2"/></datalist></recordinfo>]]></recorditem>'
        "</appmsg></msg>"
    )
    assert (forward["text"], forward["record_count"]) == ("群聊的聊天记录", 2)
    mini = parse_appmsg(
        "<msg><appmsg><title></title><type>33</type><sourcedisplayname>美团</sourcedisplayname></appmsg></msg>"
    )
    assert mini["text"] == "美团"
    file = parse_appmsg("<msg><appmsg><title>体检报告.pdf</title><type>6</type></appmsg></msg>")
    assert file["file_name"] == "体检报告.pdf"
    # Group bodies from macOS/4.x start with "wxid:\n"; broken XML still yields the headline.
    assert parse_appmsg(f"{MOM.wxid}:\n{LINK_XML}")["title"] == "养生小知识"
    broken = parse_appmsg("<msg><appmsg><title>A & B</title><type>5</type></appmsg>")
    assert (broken["ok"], broken["type"], broken["title"]) == (False, 5, "A & B")


def test_revokemsg_system_xml_is_a_recall():
    xml = (
        '<sysmsg type="revokemsg"><revokemsg><session>x</session><msgid>1</msgid>'
        '<replacemsg><![CDATA["老陈" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>'
    )
    assert parse_sysmsg(xml) == {"ok": True, "type": "revokemsg", "text": '"老陈" 撤回了一条消息'}
    assert decode_content(10002, 0, xml).kind is Kind.RECALL


def test_chatlog_rendered_tokens():
    assert parse_rendered("[文件|体检报告.pdf](http://h/file/abc)").kind is Kind.FILE
    assert parse_rendered("[文件|体检报告.pdf](http://h/file/abc)").text == "体检报告.pdf"
    assert parse_rendered("[红包]").kind is Kind.RED_PACKET
    assert parse_rendered("[微笑]今天好开心").kind is Kind.TEXT  # WeChat emoji codes are text


def test_table_parsers_also_yield_records_like_every_parser(chats):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    ctx = ParseContext(TZ, Contacts(), chats)
    records = list(MemoTraceCsv().parse(path, ctx))
    assert all(isinstance(r, Message) for r in records) and len(records) == 5
    assert records[0].kind is Kind.TEXT and records[0].ts == at(2, 20, 0)
    assert ctx.contacts.owners == {ME.wxid} and "妈妈" in ctx.contacts.names[MOM.wxid]
