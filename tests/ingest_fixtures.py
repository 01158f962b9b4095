"""Builders for small chat exports, written byte for byte the way each tool writes them
(see /work/shared/docs/wechat-formats.md): BOMs, CRLF, quoting, XML bodies, file layout.

A conversation is a list of `Msg`; each writer renders the same conversation in its tool's
format, so tests can export one chat twice and check that ingest sees one chat.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Person:
    wxid: str
    nickname: str
    remark: str = ""

    @property
    def shown(self) -> str:
        """The name WeChat shows the owner: remark, else nickname."""
        return self.remark or self.nickname


ME = Person("wxid_me_0001", "小明")
MOM = Person("wxid_mom_0002", "Meilan 🌻", "妈妈")
DAD = Person("wxid_dad_0003", "老陈", "爸爸")
AUNT = Person("wxid_aunt_0004", "Tom Zhao")  # a nickname with a space: MemoTrace writes "Tom_Zhao"
GROUP_ID, GROUP_NAME = "20001234567@chatroom", "相亲相爱一家人"

IMAGE_XML = (
    '<?xml version="1.0"?>\n<msg>\n\t<img aeskey="00" md5="0123456789abcdef0123456789abcdef" length="2048" />'
    "\n</msg>\n"
)
VOICE_XML = '<msg><voicemsg endflag="1" length="5120" voicelength="3520" clientmsgid="41" /></msg>'
LOCATION_XML = (
    '<msg><location x="31.2304" y="121.4737" scale="16" label="上海市黄浦区" poiname="外滩" /></msg>'
)
LINK_XML = (
    '<?xml version="1.0"?>\n<msg><appmsg appid="" sdkver="0"><title>养生小知识</title><des>多喝热水</des>'
    "<type>5</type><url>https://mp.weixin.qq.com/s/abc</url></appmsg><appinfo><appname /></appinfo></msg>"
)


def quote_xml(reply: str, quoted: str, who: Person) -> str:
    return (
        f'<msg><appmsg appid="" sdkver="0"><title>{reply}</title><type>57</type><refermsg><type>1</type>'
        f"<svrid>7000</svrid><fromusr>{GROUP_ID}</fromusr><chatusr>{who.wxid}</chatusr>"
        f"<displayname>{who.shown}</displayname><content>{quoted}</content></refermsg></appmsg></msg>"
    )


def transfer_xml(amount: str) -> str:
    return (
        "<msg><appmsg><title>微信转账</title><type>2000</type><wcpayinfo><paysubtype>1</paysubtype>"
        f"<feedesc>{amount}</feedesc><pay_memo>买菜</pay_memo></wcpayinfo></appmsg></msg>"
    )


@dataclass(frozen=True)
class Msg:
    """One message as WeChat stored it."""

    at: datetime  # aware
    sender: Person | None  # None: a system notice
    content: str  # text, XML body, or notice text
    type: int = 1
    sub: int = 0
    svrid: int = 0


def at(day: int, hour: int, minute: int, second: int = 0, month: int = 3, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=TZ)


def family_group() -> list[Msg]:
    """A short group chat with every common kind of message; sender-distinct text."""
    return [
        Msg(at(1, 8, 0), MOM, "早上好@小明\u2005记得吃早饭", svrid=9001),
        Msg(at(1, 8, 1), ME, "好的妈，马上吃\n今天降温了", svrid=9002),
        Msg(at(1, 8, 1), ME, "好的妈，马上吃\n今天降温了", svrid=9003),  # sent twice in one second
        Msg(at(1, 8, 2), DAD, IMAGE_XML, type=3, svrid=9004),
        Msg(at(1, 8, 3), MOM, quote_xml("这张拍得好", "记得吃早饭", MOM), type=49, sub=57, svrid=9005),
        Msg(at(1, 8, 4), AUNT, "hello everyone, 周末一起吃饭吗？", svrid=9006),
        Msg(at(1, 8, 5), None, '"老陈" 拍了拍 "小明"', type=10000, sub=4, svrid=9007),
        Msg(at(1, 8, 6), MOM, LINK_XML, type=49, sub=5, svrid=9008),
        Msg(at(1, 8, 7), DAD, VOICE_XML, type=34, svrid=9009),
        Msg(at(1, 8, 8), None, '"老陈"撤回了一条消息', type=10000, sub=1, svrid=9010),
    ]


def private_chat() -> list[Msg]:
    return [
        Msg(at(2, 20, 0), MOM, "吃饭了吗，孩子", svrid=8001),
        Msg(at(2, 20, 1), ME, "吃了，妈你呢", svrid=8002),
        Msg(at(2, 20, 2), MOM, LOCATION_XML, type=48, svrid=8003),
        Msg(at(2, 20, 3), MOM, transfer_xml("￥200.00"), type=49, sub=2000, svrid=8004),
        Msg(at(2, 20, 4), ME, "谢谢妈\r\n爱你", svrid=8005),
    ]


def _csv_bytes(header: list[str], rows: list[list], *, bom: bool, crlf: bool) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")


def _sanitize(name: str) -> str:
    return name.translate(str.maketrans(dict.fromkeys('\\/:*?"<>| .', "_")))


# ---- MemoTrace ----

MEMOTRACE_HEADER = (
    "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
)


def _str_time(m: Msg) -> str:
    return m.at.strftime("%Y-%m-%d %H:%M:%S")


def memotrace_csv(
    root: Path,
    remark: str,
    msgs: list[Msg],
    *,
    group: bool,
    partner: Person | None = None,
    talker_id: str = "7",
    nine_columns: bool = False,
) -> Path:
    """`聊天记录/<remark>/<remark>_utf8.csv`, UTF-8 with BOM, CRLF (csv.writer with newline='')."""
    rows = []
    for i, m in enumerate(msgs, start=1):
        # Type-49 bodies are not written (MemoTrace keeps them in CompressContent).
        content = "" if m.type == 49 else m.content
        base = [
            i,
            talker_id,
            m.type,
            m.sub,
            int(m.sender == ME),
            int(m.at.timestamp()),
            2,
            content,
            _str_time(m),
        ]
        if nine_columns:
            rows.append(base)
            continue
        who = m.sender if group else (ME if m.sender == ME else partner)
        if who is None or (group and m.sender is None):
            extra = ["", "", ""]
        else:
            extra = [_sanitize(who.shown), who.nickname, who.wxid]
        rows.append(base + extra)
    path = root / "聊天记录" / remark / f"{remark}_utf8.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = MEMOTRACE_HEADER.split(",")
    path.write_bytes(_csv_bytes(header[:9] if nine_columns else header, rows, bom=True, crlf=True))
    return path


INDENT = " " * 12  # MemoTrace's link block is indented inside its f-string
_TXT_PLACEHOLDER = {3: "[图片]", 34: "[语音]", 43: "[视频]", 47: "[表情包]"}


def memotrace_txt(root: Path, remark: str, msgs: list[Msg]) -> Path:
    """`聊天记录/<remark>/<remark>.txt`: UTF-8, no BOM, LF; placeholders; quotes as `引用:`."""
    out = []
    for m in msgs:
        stamp = _str_time(m)
        if m.sender is None:
            out.append(f"{stamp} {m.content}\n\n")
        elif m.type == 1:
            out.append(f"{stamp} {m.sender.shown}\n{m.content}\n\n")
        elif m.type in _TXT_PLACEHOLDER:
            out.append(f"{stamp} {m.sender.shown}\n{_TXT_PLACEHOLDER[m.type]}\n\n")
        elif m.type == 49 and m.sub == 57:
            title = m.content.split("<title>")[1].split("</title>")[0]
            quoted = m.content.split("<content>")[1].split("</content>")[0]
            who = m.content.split("<displayname>")[1].split("</displayname>")[0]
            out.append(f"{stamp} {m.sender.shown}\n{title}\n引用:{who}:{quoted}\n\n")
        elif m.type == 49 and m.sub == 5:
            title = m.content.split("<title>")[1].split("</title>")[0]
            out.append(
                f"{stamp} {m.sender.shown}\n{INDENT}[链接]:title:{title}\n{INDENT}description:多喝热水\n"
                f"{INDENT}url:https://mp.weixin.qq.com/s/abc\n{INDENT}name:None\n{INDENT}\n\n"
            )
        # location, transfers, red packets…: the TXT export drops them
    path = root / "聊天记录" / remark / f"{remark}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(out), encoding="utf-8", newline="\n")
    return path


def memotrace_chat_txt(root: Path, remark: str, msgs: list[Msg]) -> Path:
    """`<remark>_chat.txt`: day headers, a `name:` label only when the side flips, text only."""
    out, day, last_side = [], None, None
    for m in msgs:
        if m.type != 1 or m.sender is None:
            continue
        if m.at.date() != day:
            day = m.at.date()
            out.append(f"\n\n{'*' * 20}{day.isoformat()}{'*' * 20}\n")
        side = m.sender == ME
        label = f"\n{m.sender.shown}:" if side != last_side else ""
        last_side = side
        out.append(f"{label}{m.content} ")
    path = root / f"{remark}_chat.txt"
    path.write_text("".join(out), encoding="utf-8", newline="\n")
    return path


# ---- PyWxDump ----

PYWXDUMP_HEADER = [
    "id",
    "MsgSvrID",
    "type_name",
    "is_sender",
    "talker",
    "room_name",
    "msg",
    "src",
    "CreateTime",
]
_TYPE_NAMES = {(1, 0): "文本", (3, 0): "图片", (34, 0): "语音", (48, 0): "位置", (49, 5): "分享链接"}
_TYPE_NAMES |= {(49, 57): "引用回复", (49, 2000): "转账", (10000, 4): "拍一拍", (10000, 1): "撤回消息"}


def _pywxdump_msg(m: Msg) -> str:
    if m.type == 1 or m.type == 10000:
        return m.content
    if m.type == 3:
        return "图片"
    if m.type == 34:
        return "语音时长：3.52秒\n翻译结果：我到楼下了"
    if m.type == 48:
        return "纬度:【31.2304】 经度:【121.4737】\n位置：外滩\n上海市黄浦区"
    if m.sub == 5:
        return '养生小知识\n多喝热水\n\n<a href="https://mp.weixin.qq.com/s/abc">点击查看详情</a>'
    if m.sub == 57:
        title = m.content.split("<title>")[1].split("</title>")[0]
        quoted = m.content.split("<content>")[1].split("</content>")[0]
        who = m.content.split("<displayname>")[1].split("</displayname>")[0]
        return f"{title}\n\n[引用](2024-03-01 08:00:00){who}:{quoted}"
    if m.sub == 2000:
        return "转账：￥200.00\n买菜"
    return ""


def _pywxdump_rows(msgs: list[Msg], chat_id: str, cli_self: bool) -> list[list]:
    rows = []
    for i, m in enumerate(msgs, start=1):
        if m.sender is None:
            talker = "系统"
        elif m.sender == ME and cli_self:
            talker = "我"
        else:
            talker = m.sender.wxid
        src = "FileStorage/Image/2024-03/abc.dat" if m.type == 3 else ""
        rows.append(
            [
                i,
                m.svrid,
                _TYPE_NAMES.get((m.type, m.sub), "未知"),
                int(m.sender == ME),
                talker,
                chat_id,
                _pywxdump_msg(m),
                src,
                _str_time(m),
            ]
        )
    return rows


def pywxdump_csv(root: Path, chat_id: str, msgs: list[Msg], *, cli_self: bool = False) -> Path:
    """`export/<owner>/csv/<chat>/<chat>_0_<N>.csv`: UTF-8 without BOM, CRLF."""
    path = root / "export" / ME.wxid / "csv" / chat_id / f"{chat_id}_0_{len(msgs)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _csv_bytes(PYWXDUMP_HEADER, _pywxdump_rows(msgs, chat_id, cli_self), bom=False, crlf=True)
    )
    return path


def pywxdump_json(root: Path, chat_id: str, msgs: list[Msg], *, content_variant: bool = False) -> Path:
    """`export/<owner>/json/<chat>/<chat>_0_<N+1>.json`; early-2024 builds put msg+src in `content`."""
    records = []
    for row in _pywxdump_rows(msgs, chat_id, cli_self=False):
        record = dict(zip(PYWXDUMP_HEADER, row, strict=True)) | {"extra": {}}
        if content_variant:
            record["content"] = json.dumps(
                {"src": record.pop("src"), "msg": record.pop("msg")}, ensure_ascii=False
            )
        records.append(record)
    path = root / "export" / ME.wxid / "json" / chat_id / f"{chat_id}_0_{len(msgs) + 1}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def pywxdump_users(root: Path, people: list[Person], chats: dict[str, str] | None = None) -> Path:
    """`users.json` beside the pages, keyed by wxid."""
    users = {
        p.wxid: {"wxid": p.wxid, "nickname": p.nickname, "remark": p.remark, "account": "", "describe": ""}
        for p in people
    }
    for chat_id, name in (chats or {}).items():
        users[chat_id] = {"wxid": chat_id, "nickname": name, "remark": "", "account": "", "describe": ""}
    path = root / "export" / ME.wxid / "csv" / "users.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(users, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


# ---- chatlog ----


def _chatlog_content(m: Msg) -> str:
    """chatlog's text rendering (PlainTextContent)."""
    if m.type in (1, 10000):
        return m.content
    if m.type == 3:
        return "![图片](http://127.0.0.1:5030/image/0123456789abcdef0123456789abcdef)"
    if m.type == 34:
        return "[语音](http://127.0.0.1:5030/voice/41)"
    if m.type == 48:
        return "Type: 48 Content: " + m.content
    if m.sub == 5:
        return "[链接|养生小知识](https://mp.weixin.qq.com/s/abc)"
    if m.sub == 57:
        title = m.content.split("<title>")[1].split("</title>")[0]
        quoted = m.content.split("<content>")[1].split("</content>")[0]
        return f"> {MOM.shown}({MOM.wxid}) 03-01 08:00:00\n> {quoted}\n{title}"
    if m.sub == 2000:
        return "[转账|发送 ￥200.00](买菜)"
    return "[分享]"


def _chatlog_sender(m: Msg) -> tuple[str, str]:
    if m.sender is None:
        return "系统消息", ""
    return m.sender.wxid, m.sender.shown


def chatlog_csv(root: Path, name: str, chat_id: str, chat_name: str, msgs: list[Msg]) -> Path:
    """`format=csv`: LF, no BOM; the owner's own rows have an empty Sender (3.x data)."""
    rows = []
    for m in msgs:
        sender, sender_name = _chatlog_sender(m)
        if m.sender == ME:
            sender, sender_name = "", ""
        rows.append([_str_time(m), sender_name, sender, chat_name, chat_id, _chatlog_content(m)])
    path = root / "chatlog" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["Time", "SenderName", "Sender", "TalkerName", "Talker", "Content"]
    path.write_bytes(_csv_bytes(header, rows, bom=False, crlf=False))
    return path


def chatlog_json(root: Path, name: str, chat_id: str, chat_name: str, msgs: list[Msg]) -> Path:
    """`format=json`: RFC 3339 times with offset, raw XML content for non-text messages."""
    records = []
    for i, m in enumerate(msgs):
        sender, sender_name = _chatlog_sender(m)
        record = {
            "seq": int(m.at.timestamp()) * 1000 + i,
            "time": m.at.isoformat(),
            "talker": chat_id,
            "talkerName": chat_name,
            "isChatRoom": chat_id.endswith("@chatroom"),
            "sender": sender,
            "senderName": sender_name,
            "isSelf": m.sender == ME,
            "type": m.type,
            "subType": m.sub,
            "content": m.content,
        }
        if m.type == 49 and m.sub == 57:
            record["content"] = m.content.split("<title>")[1].split("</title>")[0]
            quoted = m.content.split("<content>")[1].split("</content>")[0]
            record["contents"] = {
                "refer": {"type": 1, "sender": MOM.wxid, "senderName": MOM.shown, "content": quoted}
            }
        records.append(record)
    path = root / "chatlog" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def chatlog_text(root: Path, name: str, msgs: list[Msg], time_format: str = "%Y-%m-%d %H:%M:%S") -> Path:
    """Plain text: `senderName(sender) time` headers, `我` for own messages, blank line between."""
    out = []
    for m in msgs:
        if m.sender is None:
            who = "系统消息"
        elif m.sender == ME:
            who = f"{ME.nickname}(我)"
        else:
            who = f"{m.sender.shown}({m.sender.wxid})"
        out.append(f"{who} {m.at.strftime(time_format)}\n{_chatlog_content(m)}\n\n")
    path = root / "chatlog" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(out), encoding="utf-8", newline="\n")
    return path
