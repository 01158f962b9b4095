"""The demo events written the way each export tool writes them (wechat-formats.md §1, §3, §4):
file layout, encoding, BOM, line endings, headers, quoting and per-type renderings.

- MemoTrace CSV: `聊天记录/<remark>/<remark>_utf8.csv`, UTF-8 with BOM, CRLF, 12 columns, raw XML
  bodies, empty StrContent for type 49.
- PyWxDump CSV/JSON: `export/<owner>/csv|json/<chat>/<chat>_<start>_<end>.csv|json` with a
  `users.json` beside; CSV without BOM with CRLF rows, JSON written by Python in Windows text mode
  (CRLF), Chinese type names and PyWxDump's text renderings.
- chatlog JSON: the HTTP API's compact Go JSON (`<`, `>`, `&` escaped as \\u003c …), RFC 3339 times.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from pipelines.demo_data.cast import OWNER, PEOPLE, Chat, Person
from pipelines.demo_data.script import Event
from pipelines.demo_data.wechat import location_fields, quoted_name, raw_content, sticker_url, type_code

MEMOTRACE_HEADER = (
    "localId",
    *("TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime"),
    *("Remark", "NickName", "Sender"),
)
PYWXDUMP_HEADER = (
    "id",
    "MsgSvrID",
    "type_name",
    "is_sender",
    "talker",
    "room_name",
    "msg",
    "src",
    "CreateTime",
)
PYWXDUMP_TYPE_NAMES = {
    "text": "文本",
    "image": "图片",
    "voice": "语音",
    "video": "视频",
    "sticker": "动画表情",
    "location": "位置",
    "link": "(分享)卡片式链接",
    "file": "文件",
    "quote": "引用回复",
    "transfer": "转账",
    "red_packet": "红包",
    "call": "语音通话",
    "recall": "消息撤回57",
}
PYWXDUMP_SYSTEM_NAMES = {0: "系统通知", 4: "拍一拍", 8000: "邀请加群"}
BOM = b"\xef\xbb\xbf"


class Exporter:
    """Renders events of one chat, from the exporting account's point of view."""

    def __init__(self, people: dict[str, Person], tz: ZoneInfo, local_ids: dict[int, int]):
        self.people = people
        self.tz = tz
        self.local_ids = local_ids  # MsgSvrID -> localId in the client's MSG table

    def local_time(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    # ---------------------------------------------------------------- MemoTrace

    def memotrace_csv(self, chat: Chat, events: Sequence[Event], talker_id: int) -> bytes:
        """One chat's `<remark>_utf8.csv` (utf-8-sig, csv.writer's CRLF, QUOTE_MINIMAL)."""
        rows = []
        for e in events:
            type_, sub = type_code(e)
            own = e.sender == OWNER
            # Type-49 bodies live in CompressContent, which MemoTrace does not write.
            content = "" if type_ == 49 else raw_content(e, chat, self.people)
            rows.append(
                [
                    self.local_ids[e.svrid],
                    talker_id,
                    type_,
                    sub,
                    int(own),
                    e.ts,
                    2 if own else 3,
                    content,
                    self.local_time(e.ts),
                    *self._memotrace_person(e),
                ]
            )
        return BOM + _csv(MEMOTRACE_HEADER, rows, "\r\n")

    def _memotrace_person(self, e: Event) -> list[str]:
        if not e.sender:  # notices: no sender columns
            return ["", "", ""]
        who = self.people[e.sender]
        return [sanitize(who.remark or who.nickname), who.nickname, who.wxid]

    # ---------------------------------------------------------------- PyWxDump

    def pywxdump_rows(self, chat: Chat, events: Sequence[Event]) -> list[dict]:
        """Row dicts as PyWxDump's get_msg_detail builds them (key order kept)."""
        rows = []
        for i, e in enumerate(events, start=1):
            own = e.sender == OWNER
            talker = self.people[e.sender].wxid if e.sender else "系统"
            msg, src = self._pywxdump_msg(e, chat)
            rows.append(
                {
                    "id": i,
                    "MsgSvrID": str(e.svrid),
                    "type_name": self._type_name(e),
                    "is_sender": int(own),
                    "talker": talker,
                    "room_name": chat.id,
                    "msg": msg,
                    "src": src,
                    "extra": {},
                    "CreateTime": self.local_time(e.ts),
                }
            )
        return rows

    @staticmethod
    def _type_name(e: Event) -> str:
        if e.kind == "system":
            return PYWXDUMP_SYSTEM_NAMES[e.sub]
        return PYWXDUMP_TYPE_NAMES[e.kind]

    def _pywxdump_msg(self, e: Event, chat: Chat) -> tuple[str, str]:
        """(msg, src): PyWxDump's text rendering and media path (Windows separators)."""
        d, month = e.data, datetime.fromtimestamp(e.ts, self.tz).strftime("%Y-%m")
        if e.kind in ("text", "system", "recall"):
            return e.text, ""
        if e.kind == "image":
            chat_hash = hashlib.md5(chat.id.encode()).hexdigest()
            return "图片", f"FileStorage\\MsgAttach\\{chat_hash}\\Image\\{month}\\{d['md5']}.dat"
        if e.kind == "voice":
            msg = f"语音时长：{d['ms'] / 1000:.2f}秒"
            if d["transcribed"]:
                msg += f"\n翻译结果：{e.text}"
            stamp = self.local_time(e.ts).replace(":", "-").replace(" ", "_")
            return msg, f"audio\\{chat.id}\\{stamp}_{int(e.sender == OWNER)}_{e.svrid}.wav"
        if e.kind == "video":
            return "视频", f"FileStorage\\Video\\{month}\\{d['md5']}.mp4"
        if e.kind == "sticker":
            return "表情", sticker_url(e)
        if e.kind == "location":
            fields = location_fields(e, self.people[e.sender])
            x, y, label, poi = (fields.pop(k) for k in ("x", "y", "label", "poiname"))
            other = json.dumps(fields, ensure_ascii=False, indent=4)
            return f"纬度:【{x}】 经度:【{y}】\n位置：{label} {poi}\n其他信息：{other}", ""
        if e.kind == "link":
            return f'{d["title"]}\n{d["des"]}\n\n<a href="{d["url"]}">点击查看详情</a>', d["url"]
        if e.kind == "file":
            return "文件", f"FileStorage\\File\\{month}\\{d['name']}"
        if e.kind == "quote":
            ref: Event = d["ref"]
            who = quoted_name(self.people[ref.sender], chat)
            return f"{e.text}\n\n[引用]({self.local_time(ref.ts)}){who}:{ref.text}", ""
        if e.kind == "transfer":
            verb = "已收款" if d["paysubtype"] == 3 else "转账"
            return (
                f"{verb}：{d['amount']}\n转账说明：{d['memo']}\n转账时间：{self.local_time(d['begin'])}\n",
                "",
            )
        if e.kind == "red_packet":
            return "红包", ""
        if e.kind == "call":
            return f"语音/视频通话[{e.text}]", ""
        raise ValueError(f"no PyWxDump rendering for {e.kind}")

    def pywxdump_pages(
        self, chat: Chat, events: Sequence[Event], page_rows: int, as_json: bool
    ) -> dict[str, tuple[bytes, int]]:
        """`<chat>_<i>_<i+size>.csv|json` -> (bytes, rows); like PyWxDump, a chat smaller than a
        page gets a single page named for size N+1."""
        rows = self.pywxdump_rows(chat, events)
        size = page_rows if page_rows <= len(rows) else len(rows) + 1
        pages = {}
        for i in range(0, len(rows), size):
            page = rows[i : i + size]
            if as_json:
                data = windows_text(json.dumps(page, ensure_ascii=False, indent=4))
            else:
                data = _csv(PYWXDUMP_HEADER, [[r[k] for k in PYWXDUMP_HEADER] for r in page], "\r\n")
            pages[f"{chat.id}_{i}_{i + size}.{'json' if as_json else 'csv'}"] = (data, len(page))
        return pages

    def pywxdump_users(self, chat: Chat, events: Iterable[Event]) -> bytes:
        """`users.json`: the contacts behind the talkers, keyed by wxid (plus the chat's own entry)."""
        others = {e.sender for e in events if e.sender and e.sender != OWNER}
        roles = [OWNER, *sorted(others, key=_role_order)]
        users = {self.people[r].wxid: contact_entry(self.people[r]) for r in roles}
        if chat.is_group:  # the group's own contact entry (its name), as the Contact table holds it
            users[chat.id] = {
                "wxid": chat.id,
                "nickname": chat.name,
                "remark": "",
                "account": "",
                "describe": "",
                "headImgUrl": "",
                "ExtraBuf": None,
                "LabelIDList": [],
            }
        return windows_text(json.dumps(users, ensure_ascii=False, indent=4))

    # ---------------------------------------------------------------- chatlog

    def chatlog_json(self, chat: Chat, events: Sequence[Event]) -> bytes:
        """`GET /api/v1/chatlog?format=json`: Go's encoding of chatlog's Message list."""
        records, per_second = [], {}
        for e in events:
            per_second[e.ts] = per_second.get(e.ts, -1) + 1
            type_, sub = type_code(e)
            who = self.people.get(e.sender)
            record = {
                "seq": e.ts * 1000 + per_second[e.ts],
                "time": datetime.fromtimestamp(e.ts, self.tz).isoformat(),
                "talker": chat.id,
                "talkerName": chat.name,
                "isChatRoom": chat.is_group,
                "sender": who.wxid if who else "",
                "senderName": who.shown(chat.role) if who else "",
                "isSelf": e.sender == OWNER,
                "type": type_,
                "subType": sub if type_ == 49 else 0,  # chatlog keeps the subtype for app messages only
                "content": self._chatlog_content(e, chat),
            }
            contents = self._chatlog_contents(e, chat)
            if contents:  # `contents,omitempty`
                record["contents"] = contents
            records.append(record)
        return go_json(records)

    def _chatlog_content(self, e: Event, chat: Chat) -> str:
        if e.kind == "quote":
            return e.text
        if e.kind == "transfer":
            verb = "接收 " if e.data["paysubtype"] == 3 else "发送 "
            memo = f"({e.data['memo']})" if e.data["memo"] else ""
            return f"[转账|{verb}{e.data['amount']}]{memo}"
        return raw_content(e, chat, self.people)

    def _chatlog_contents(self, e: Event, chat: Chat) -> dict:
        d = e.data
        if e.kind in ("image", "video"):
            return {"md5": d["md5"]}
        if e.kind == "voice":
            return {"voice": str(e.svrid)}
        if e.kind == "link":
            return {"title": d["title"], "url": d["url"]}
        if e.kind == "file":
            return {"title": d["name"], "md5": d["md5"]}
        if e.kind == "quote":
            ref: Event = d["ref"]
            author = self.people[ref.sender]
            refer = {
                "seq": 0,
                "time": datetime.fromtimestamp(ref.ts, self.tz).isoformat(),
                "talker": "",
                "talkerName": "",
                "isChatRoom": False,
                "sender": author.wxid,
                "senderName": quoted_name(author, chat),
                "isSelf": False,
                "type": 1,
                "subType": 0,
                "content": ref.text,
            }
            return {"refer": refer}
        return {}


# -------------------------------------------------------------------- shared helpers


def sanitize(name: str) -> str:
    """MemoTrace's file-safe remark: `\\/:*?"<>|`, whitespace and `.` become `_`."""
    return "".join("_" if ch in '\\/:*?"<>|.' or ch.isspace() else ch for ch in name)


def contact_entry(p: Person) -> dict:
    """A users.json entry as PyWxDump's get_user_list returns it."""
    extra = {
        "性别[1男2女]": 0,
        "个性签名": p.signature,
        "国": "CN" if p.province else "",
        "省": p.province,
        "市": p.city,
        "公司名称": "",
        "手机号": "",
        "企微属性": "",
        "朋友圈背景": "",
    }
    return {
        "wxid": p.wxid,
        "nickname": p.nickname,
        "remark": p.remark,
        "account": p.account,
        "describe": "",
        "headImgUrl": f"https://wx.qlogo.cn/mmhead/ver_1/{hashlib.md5(p.wxid.encode()).hexdigest()}/0",
        "ExtraBuf": extra,
        "LabelIDList": ["家人"] if p.remark and p.role in ("persona", "mum", "uncle") else [],
    }


def _role_order(role: str) -> int:
    return [p.role for p in PEOPLE].index(role)


def _csv(header: Sequence[str], rows: Iterable[Sequence], lineterminator: str) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=lineterminator, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def windows_text(text: str) -> bytes:
    """A file Python wrote in text mode on Windows: every newline becomes CRLF. JSON strings hold
    their newlines escaped, so only the layout changes."""
    return text.replace("\n", "\r\n").encode("utf-8")


def go_json(obj: object) -> bytes:
    """Go's encoding/json output: compact, UTF-8, with HTML-sensitive characters escaped. Those
    characters only occur inside JSON strings, so plain replacement is exact."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for ch, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, escaped)
    return text.encode("utf-8")
