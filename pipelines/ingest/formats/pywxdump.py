"""PyWxDump exports (the format WeClone reads): CSV pages, JSON, the early-2024 `content` variant,
and the `users.json` contacts sidecar (wechat-formats.md §3)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from pipelines.ingest.formats import (
    NAME_PREFIX,
    ExportError,
    ParseContext,
    ParsedTable,
    group_chat_id,
    is_wxid,
    iter_table,
    name_id,
    per_value,
    unmistakable_id,
)
from pipelines.ingest.formats.appmsg import kind_for
from pipelines.ingest.formats.textfile import (
    any_times,
    first_line,
    head_text,
    read_csv,
    read_text,
    rows_dropped,
)
from pipelines.ingest.schema import Dropped, Kind, Message, message_frame

CSV_PREFIX = "id,MsgSvrID,type_name,is_sender,talker,room_name,"
_UNRESOLVED_TALKERS = frozenset({"系统", "未知"})  # PyWxDump's words for "no sender known"

# PyWxDump's Chinese type names as WeChat (type, subtype) codes, so kinds come from one table.
TYPE_CODES = {
    "文本": (1, 0),
    "图片": (3, 0),
    "语音": (34, 0),
    "添加好友": (37, 0),
    "推荐公众号": (42, 0),
    "名片": (42, 0),
    "视频": (43, 0),
    "动画表情": (47, 0),
    "位置": (48, 0),
    "粘贴的文本": (49, 1),
    "(分享)音乐": (49, 3),
    "分享链接": (49, 5),
    "(分享)卡片式链接": (49, 5),
    "文件": (49, 6),
    "用户上传的GIF表情": (49, 8),
    "位置共享": (49, 17),
    "合并转发的聊天记录": (49, 19),
    "(分享)笔记": (49, 24),
    "(分享)小程序": (49, 33),
    "(分享)视频号名片": (49, 50),
    "(分享)视频号视频": (49, 51),
    "引用回复": (49, 57),
    "视频号直播或直播回放": (49, 63),
    "群公告": (49, 87),
    "转账": (49, 2000),
    "红包": (49, 2001),
    "赠送红包封面": (49, 2003),
    "语音通话": (50, 0),
    "系统通知": (10000, 0),
    "拍一拍": (10000, 4),
    "撤回消息": (10000, 1),
    "邀请加群": (10000, 8000),
}
# Names not in the table (other builds, "消息撤回5", "(分享)小说(猜)"…): first keyword that matches.
_TYPE_KEYWORDS = (
    ("撤回", (10000, 1)),
    ("拍一拍", (10000, 4)),
    ("系统", (10000, 0)),
    ("引用", (49, 57)),
    ("转账", (49, 2000)),
    ("红包", (49, 2001)),
    ("文件", (49, 6)),
    ("表情", (47, 0)),
    ("通话", (50, 0)),
    ("位置", (48, 0)),
    ("分享", (49, 5)),
    ("链接", (49, 5)),
)


def kind_of_type_name(type_name: str) -> tuple[Kind, bool]:
    """(kind, known) for a PyWxDump `type_name`; unknown names give OTHER unless a keyword fits."""
    if type_name in TYPE_CODES:
        return kind_for(*TYPE_CODES[type_name]), True
    for word, codes in _TYPE_KEYWORDS:
        if word in type_name:
            return kind_for(*codes), True
    return Kind.OTHER, False


_QUOTE_RE = re.compile(r"(?s)(.*?)\s*\[引用\]\(([^)]*)\)(.*)")


def _split_quote(msg: str) -> tuple[str, str, str]:
    """`title\\n\\n[引用](time)name:content` -> (reply, quoted sender, quoted text)."""
    m = _QUOTE_RE.fullmatch(msg)
    if not m:
        return msg, "", ""
    who, _, what = m.group(3).partition(":")
    return m.group(1).strip(), who.strip(), what.strip()


def owner_from_path(rel: str) -> str:
    """The exporting account's wxid from `…/<my_wxid>/csv|json/<chat>/…`, if the path has it."""
    parts = Path(rel).parts
    for i, part in enumerate(parts[1:], start=1):
        if part.lower() in ("csv", "json") and is_wxid(parts[i - 1]):
            return parts[i - 1]
    return ""


def _first_lines(s: pd.Series) -> pd.Series:
    return s.str.split("\n", n=1).str[0].str.strip()


def build_table(f: pd.DataFrame, rows: np.ndarray, path: Path, fmt: str, ctx: ParseContext) -> ParsedTable:
    """The message table of one PyWxDump CSV page or JSON file (string columns as written)."""
    rel = ctx.rel(path)
    dropped: list[Dropped] = []
    for column in ("MsgSvrID", "type_name", "is_sender", "talker", "room_name", "src", "CreateTime"):
        if column not in f:
            f[column] = ""
    if "msg" not in f:  # early-2024 builds: JSON inside `content`
        f["msg"], content_src = _content_column(
            f["content"] if "content" in f else pd.Series("", index=f.index)
        )
        f["src"] = f["src"].where(f["src"] != "", content_src)
    ts = any_times(f["CreateTime"], ctx.timezone, ctx)
    bad = ts.isna()
    dropped += rows_dropped(rel, rows, bad, "unparseable_time", "CreateTime is not readable")
    if bad.any():
        f, ts, rows = f[~bad], ts[~bad], rows[~bad.to_numpy()]

    names = f["type_name"].str.strip()
    kinds = per_value(names, lambda n: str(kind_of_type_name(n)[0]))
    ctx.note("unknown_type_name", int(per_value(names, lambda n: not kind_of_type_name(n)[1], "bool").sum()))

    msg = f["msg"].str.replace("\r\n", "\n", regex=False)
    text = msg.copy()
    quote_of = pd.Series("", index=f.index, dtype="str")
    quote_sender = quote_of.copy()
    media = kinds.isin(["image", "video", "sticker", "voice", "file"])
    media_ref = f["src"].where(media, "")
    # What each rendering carries (the words around it are PyWxDump's, not the sender's).
    text[kinds.isin(["image", "video", "sticker"])] = ""
    voice = kinds == "voice"
    text[voice] = msg[voice].str.extract(r"翻译结果[：:](.*)", expand=False).fillna("").str.strip()
    place = kinds == "location"
    text[place] = msg[place].str.extract(r"位置[：:](.*)", expand=False).fillna(_first_lines(msg[place]))
    titled = kinds.isin(["link", "file", "other"])
    text[titled] = _first_lines(msg[titled])
    quote = kinds == "quote"
    if quote.any():
        parts = [_split_quote(m) for m in msg[quote]]
        text[quote] = [p[0] for p in parts]
        quote_sender[quote] = [p[1] for p in parts]
        quote_of[quote] = [p[2] for p in parts]

    owner = owner_from_path(rel)
    if owner:
        ctx.contacts.owners.add(owner)
    talker = f["talker"].str.strip()
    is_self = (f["is_sender"].str.strip().isin(["1", "True", "true"])) | talker.isin(ctx.self_names)
    talker_ok = per_value(talker, is_wxid, dtype="bool")
    sender_id = talker.where(talker_ok, "")
    if owner:
        sender_id = sender_id.where(~(is_self & (sender_id == "")), owner)
    ctx.note(
        "sender_unresolved", int((talker.isin(_UNRESOLVED_TALKERS) & ~kinds.isin(["system", "recall"])).sum())
    )
    # Names other than ids (some builds write display names) stay as the shown name.
    sender_name = talker.where(~talker_ok & ~talker.isin(ctx.self_names | _UNRESOLVED_TALKERS), "")

    room = f["room_name"].str.strip()
    folder = path.parent.name  # `<chat>/` holding the pages
    chat_id = room.where(room != "", folder if unmistakable_id(folder) else name_id(folder))
    is_group = chat_id.str.endswith("@chatroom").astype(bool)
    msg_id = f["MsgSvrID"].str.strip().str.removesuffix(".0")
    msg_id = msg_id.where(~msg_id.isin(["0", "", "None"]), "")
    messages = message_frame(
        len(f),
        ctx.timezone,
        source_file=rel,
        source_format=fmt,
        source_row=rows,
        chat_id=chat_id,
        chat_name=chat_id.where(~chat_id.str.startswith(NAME_PREFIX), folder),
        is_group=is_group,
        msg_id=msg_id,
        ts=ts,
        sender_id=sender_id,
        sender_name=sender_name,
        is_self=is_self,
        kind=kinds,
        text=text,
        quote_of=quote_of,
        quote_sender=quote_sender,
        media_ref=media_ref,
    )
    return ParsedTable(messages, dropped)


def _content_column(content: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(msg, src) from the early-2024 `content` column, a JSON object per row."""

    def fields(value: str) -> tuple[str, str]:
        try:
            obj = json.loads(value)
        except (ValueError, TypeError):
            return value, ""
        if not isinstance(obj, dict):
            return str(obj), ""
        return str(obj.get("msg") or obj.get("content") or ""), str(obj.get("src") or "")

    pairs = [fields(v) for v in content]
    msg = pd.Series([p[0] for p in pairs], index=content.index, dtype="str")
    return msg, pd.Series([p[1] for p in pairs], index=content.index, dtype="str")


class PyWxDumpCsv:
    """`<chat>_<start>_<end>.csv` pages of 5000 rows:
    `id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime` (`content` for `msg` in
    early-2024 builds)."""

    name: ClassVar[str] = "pywxdump_csv"
    role: ClassVar[str] = "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() == ".csv" and first_line(head).startswith(CSV_PREFIX)

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        yield from iter_table(self.parse_table(path, ctx))

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable:
        csv_rows = read_csv(path, ctx)
        table = build_table(csv_rows.frame, csv_rows.rows, path, self.name, ctx)
        table.dropped[:0] = csv_rows.dropped
        return table


def json_records(path: Path, ctx: ParseContext) -> list:
    """A JSON export's top-level list; a clear error when the file is not one."""
    try:
        data = json.loads(read_text(path, ctx))
    except json.JSONDecodeError as e:
        raise ExportError(
            f"{ctx.rel(path)}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    if not isinstance(data, list):
        raise ExportError(f"{ctx.rel(path)}: expected a JSON list of messages, found a {type(data).__name__}")
    return data


def records_frame(
    records: list, columns: tuple[str, ...], rel: str, dropped: list[Dropped]
) -> tuple[pd.DataFrame, np.ndarray]:
    """JSON message objects as string columns (ids stay exact: no float detour); non-objects are
    dropped with their position."""
    keep, numbers = [], []
    for number, record in enumerate(records, start=1):
        if isinstance(record, dict):
            keep.append(record)
            numbers.append(number)
        else:
            dropped.append(Dropped(rel, number, "not_an_object", f"item {number} is not a JSON object"))

    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    data = {c: [text(r.get(c)) for r in keep] for c in columns}
    return pd.DataFrame(data, dtype="str"), np.asarray(numbers, dtype="int64")


class PyWxDumpJson:
    """`<chat>_0_<N+1>.json`: a list of objects with the CSV's keys plus `extra`."""

    name: ClassVar[str] = "pywxdump_json"
    role: ClassVar[str] = "messages"
    _KEYS = (
        "id",
        "MsgSvrID",
        "type_name",
        "is_sender",
        "talker",
        "room_name",
        "msg",
        "content",
        "src",
        "CreateTime",
    )

    def sniff(self, path: Path, head: bytes) -> bool:
        text = head_text(head).lstrip()
        return path.suffix.lower() == ".json" and text.startswith("[") and '"type_name"' in text

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        yield from iter_table(self.parse_table(path, ctx))

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable:
        dropped: list[Dropped] = []
        records = json_records(path, ctx)
        has_msg = any("msg" in r for r in records[:50] if isinstance(r, dict))
        keys = tuple(k for k in self._KEYS if k != ("content" if has_msg else "msg"))
        frame, rows = records_frame(records, keys, ctx.rel(path), dropped)
        table = build_table(frame, rows, path, self.name, ctx)
        table.dropped[:0] = dropped
        return table


class PyWxDumpUsers:
    """`users.json` beside the pages: `{wxid: {wxid, nickname, remark, account, describe, …}}`."""

    name: ClassVar[str] = "pywxdump_users"
    role: ClassVar[str] = "contacts"

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.name.lower() == "users.json" and head_text(head).lstrip().startswith("{")

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        try:
            users = json.loads(read_text(path, ctx))
        except json.JSONDecodeError as e:
            raise ExportError(f"{rel}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        if not isinstance(users, dict):
            raise ExportError(f"{rel}: expected an object keyed by wxid, found a {type(users).__name__}")
        owner = owner_from_path(rel) or (path.parent.name if is_wxid(path.parent.name) else "")
        ctx.note("rows_read", len(users))
        for number, (key, user) in enumerate(users.items(), start=1):
            if not isinstance(user, dict):
                yield Dropped(rel, number, "not_an_object", f"entry {number} is not a JSON object")
                continue
            wxid = str(user.get("wxid") or key).strip()
            names = [str(user.get(k) or "") for k in ("remark", "nickname", "account")]
            if group_chat_id(wxid):
                ctx.contacts.add_chat(wxid, names[0] or names[1], True)
            else:
                ctx.contacts.add_person(wxid, *names, owner=wxid == owner)
