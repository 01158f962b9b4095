"""chatlog (sjzar/chatlog) exports from its HTTP API: `format=csv`, `format=json` and the plain
text format (wechat-formats.md §4)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pandas as pd

from pipelines.ingest.formats import (
    NAME_PREFIX,
    ParseContext,
    ParsedTable,
    group_chat_id,
    is_wxid,
    iter_table,
    name_id,
    name_key,
    per_value,
    unmistakable_id,
)
from pipelines.ingest.formats.appmsg import RECALL_MARK, Decoded, decode_content, kind_for, system_text
from pipelines.ingest.formats.pywxdump import json_records, records_frame
from pipelines.ingest.formats.textfile import (
    any_times,
    blocks,
    first_line,
    head_text,
    iso_times,
    local_time,
    read_csv,
    read_text,
    rows_dropped,
)
from pipelines.ingest.schema import Dropped, Kind, Message, message_frame

CSV_HEADER = "Time,SenderName,Sender,TalkerName,Talker,Content"
SYSTEM_SENDER = "系统消息"  # chatlog's sender for type-10000 notices
# Notices that chatlog's 3.x data writes with an empty sender, like the owner's own messages.
_SYSTEM_HINTS = re.compile(
    "撤回了一条消息|拍了拍|加入了群聊|移出了群聊|修改群名为|邀请.*加入|以上是打招呼的内容|现在可以开始聊天了|"
    "你已添加了|领取了.*红包|与群里其他人都不是朋友关系|开启了朋友验证"
)

# chatlog's text rendering of non-text messages, as WeChat (type, subtype) codes. Group 1, when
# present, is the part worth keeping as text (title, file name, amount).
_TOKENS: list[tuple[re.Pattern, tuple[int, int]]] = [
    (re.compile(r"!\[图片\]\(.*\)"), (3, 0)),
    (re.compile(r"!\[视频\]\(.*\)"), (43, 0)),
    (re.compile(r"\[语音\](?:\(.*\))?"), (34, 0)),
    (re.compile(r"\[动画表情\]"), (47, 0)),
    (re.compile(r"\[GIF表情\]"), (49, 8)),
    (re.compile(r"\[链接\|(.*)\]\(.*\)"), (49, 5)),
    (re.compile(r"\[分享\|(.*?)\|.*\]\(.*\)"), (49, 4)),
    (re.compile(r"\[分享\]"), (49, 0)),
    (re.compile(r"\[文件\|(.*)\]\(.*\)"), (49, 6)),
    (re.compile(r"\[小程序(?:\|(.*))?\](?:\(.*\))?"), (49, 33)),
    (re.compile(r"\[视频号(?:\|(.*))?\](?:\(.*\))?"), (49, 51)),
    (re.compile(r"\[转账\|(.*)"), (49, 2000)),
    (re.compile(r"\[红包\]"), (49, 2001)),
    (re.compile(r"\[红包封面\]"), (49, 2003)),
    (re.compile(r"\[合并转发\]"), (49, 19)),
    (re.compile(r"\[群公告\]"), (49, 87)),
    (re.compile(r"\[引用\]"), (49, 57)),
    (re.compile(r"\[名片\]"), (42, 0)),
    (re.compile(r"\[语音通话\]"), (50, 0)),
]
_TYPE_DUMP_RE = re.compile(r"(?s)Type: (\d+) Content: (.*)")
_QUOTE_HEAD_RE = re.compile(r"> (.*?)(?:\(([^()]*)\))? \d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# Rows whose content may be a rendering: everything else is plain text (most rows).
_MAYBE_TOKEN_RE = (
    r"^(?:!\[|> |Type: \d|\[(?:语音|动画表情|GIF表情|链接\||分享|文件\||小程序|视频号|"
    r"转账\||红包|合并转发|群公告|引用|名片|语音通话))"
)


def parse_rendered(content: str) -> Decoded:
    """Kind, text and quote of one message as chatlog renders it in text and CSV output."""
    body = content.strip()
    if body.startswith("> "):
        lines = body.split("\n")
        quoted = [line[2:] for line in lines if line.startswith("> ")]
        reply = "\n".join(line for line in lines if not line.startswith("> ")).strip()
        head = _QUOTE_HEAD_RE.fullmatch("> " + quoted[0]) if quoted else None
        if head:
            who = head.group(1).strip() or (head.group(2) or "")
            return Decoded(Kind.QUOTE, reply, "\n".join(quoted[1:]).strip(), who)
        return Decoded(Kind.QUOTE, reply)  # "> [引用]": the quoted message is not shown
    for pattern, codes in _TOKENS:
        if m := pattern.fullmatch(body):
            title = m.group(1) if m.groups() else ""
            if codes == (49, 2000):
                title = body.strip("[]").removeprefix("转账|").replace("]", " ").strip()
            return Decoded(kind_for(*codes), title or "")
    if m := _TYPE_DUMP_RE.fullmatch(body):
        return Decoded(kind_for(int(m.group(1))), "")
    return Decoded(Kind.TEXT, content)


def _chat_fields(
    talker: pd.Series, talker_name: pd.Series, ctx: ParseContext, fallback: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Chat id, name and group flag; records chat names in the contacts."""
    chat_id = talker.where(talker != "", name_id(fallback))
    chat_name = talker_name.where(talker_name != "", chat_id.where(talker != "", fallback))
    is_group = chat_id.str.endswith("@chatroom").astype(bool)
    pairs = pd.DataFrame({"id": chat_id, "name": talker_name, "group": is_group}).drop_duplicates()
    for cid, name, group in pairs.itertuples(index=False):
        if not cid.startswith(NAME_PREFIX):
            ctx.contacts.add_chat(cid, name or None, bool(group))
    return chat_id, chat_name, is_group


def _record_people(
    sender_id: pd.Series, sender_name: pd.Series, is_self: pd.Series, ctx: ParseContext
) -> None:
    pairs = pd.DataFrame({"id": sender_id, "name": sender_name, "self": is_self}).drop_duplicates()
    for wxid, name, own in pairs.itertuples(index=False):
        if wxid:
            ctx.contacts.add_person(wxid, name, owner=bool(own))


class ChatlogCsv:
    """`format=csv`: `Time,SenderName,Sender,TalkerName,Talker,Content`, contents rendered as text."""

    name: ClassVar[str] = "chatlog_csv"
    role: ClassVar[str] = "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() == ".csv" and first_line(head).strip() == CSV_HEADER

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        yield from iter_table(self.parse_table(path, ctx))

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable:
        rel = ctx.rel(path)
        csv_rows = read_csv(path, ctx)
        f, rows, dropped = csv_rows.frame, csv_rows.rows, csv_rows.dropped
        ts = any_times(f["Time"], ctx.timezone, ctx)
        bad = ts.isna()
        dropped += rows_dropped(rel, rows, bad, "unparseable_time", "Time is not readable")
        if bad.any():
            f, ts, rows = f[~bad], ts[~bad], rows[~bad.to_numpy()]

        content = f["Content"].str.replace("\r\n", "\n", regex=False)
        kinds = pd.Series("text", index=f.index, dtype="str")
        text = content.copy()
        quote_of = pd.Series("", index=f.index, dtype="str")
        quote_sender = quote_of.copy()
        rendered = content.str.contains(_MAYBE_TOKEN_RE, regex=True)
        if rendered.any():
            decoded = [parse_rendered(c) for c in content[rendered]]
            kinds[rendered] = [str(d.kind) for d in decoded]
            text[rendered] = [d.text for d in decoded]
            quote_of[rendered] = [d.quote_of for d in decoded]
            quote_sender[rendered] = [d.quote_sender for d in decoded]

        sender, sender_name = f["Sender"].str.strip(), f["SenderName"].str.strip()
        system = (sender == SYSTEM_SENDER) | (sender_name == SYSTEM_SENDER)
        anonymous = (sender == "") & (sender_name == "") & ~system
        # 3.x data leaves both the owner's rows and notices without a sender: tell them apart by wording.
        guessed_system = anonymous & content.where(anonymous, "").str.contains(_SYSTEM_HINTS, regex=True)
        system |= guessed_system
        is_self = (
            (anonymous & ~guessed_system)
            | sender.isin(list(ctx.self_names))
            | sender_name.isin(list(ctx.self_names))
        )
        ctx.note("self_or_system_guessed_from_wording", int(anonymous.sum()))
        kinds = kinds.where(~(system & (kinds == "text")), "system")
        kinds = kinds.where(~(system & content.str.contains(RECALL_MARK, regex=False)), "recall")

        sender_id = sender.where(per_value(sender, is_wxid, dtype="bool"), "")
        sender_name = sender_name.where(~system & ~sender_name.isin(list(ctx.self_names)), "")
        _record_people(sender_id, sender_name, is_self, ctx)
        chat_id, chat_name, is_group = _chat_fields(
            f["Talker"].str.strip(), f["TalkerName"].str.strip(), ctx, path.stem
        )
        messages = message_frame(
            len(f),
            ctx.timezone,
            source_file=rel,
            source_format=self.name,
            source_row=rows,
            chat_id=chat_id,
            chat_name=chat_name,
            is_group=is_group,
            msg_id="",
            ts=ts,
            sender_id=sender_id,
            sender_name=sender_name,
            is_self=is_self,
            kind=kinds,
            text=text,
            quote_of=quote_of,
            quote_sender=quote_sender,
            media_ref="",
        )
        return ParsedTable(messages, dropped)


def decode_json(type_: int, subtype: int, content: str, contents: str) -> Decoded:
    """Kind, text and quote of one chatlog JSON message: raw XML in `content` for non-text types,
    or chatlog's own parsed `contents` object (title, url, md5, refer …)."""
    if type_ == 1:
        return Decoded(Kind.TEXT, content)
    if type_ == 10000:
        text = system_text(content)
        return Decoded(Kind.RECALL if RECALL_MARK in text else kind_for(10000, subtype), text)
    if content.lstrip().startswith("<") or type_ == 10002:
        return decode_content(type_, subtype, content)
    extra = json.loads(contents) if contents.startswith("{") else {}
    kind = kind_for(type_, subtype)
    media_ref = str(extra.get("md5") or "")
    if kind is Kind.QUOTE:
        refer = extra.get("refer") or {}
        quoted = str(refer.get("content") or "") if refer.get("type", 1) == 1 else ""
        return Decoded(kind, content, quoted, str(refer.get("senderName") or refer.get("sender") or ""))
    if type_ == 49:
        return Decoded(kind, str(extra.get("title") or content or ""), media_ref=media_ref)
    return Decoded(kind, "", media_ref=media_ref)


class ChatlogJson:
    """`format=json`: a list of `{seq, time, talker, talkerName, isChatRoom, sender, senderName,
    isSelf, type, subType, content, contents?}`; `time` is RFC 3339, `content` raw XML for media."""

    name: ClassVar[str] = "chatlog_json"
    role: ClassVar[str] = "messages"
    _KEYS = ("seq", "time", "talker", "talkerName", "isChatRoom", "sender", "senderName", "isSelf")
    _KEYS += ("type", "subType", "content", "contents")

    def sniff(self, path: Path, head: bytes) -> bool:
        text = head_text(head).lstrip()
        return path.suffix.lower() == ".json" and text.startswith("[") and '"isSelf"' in text

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        yield from iter_table(self.parse_table(path, ctx))

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable:
        rel = ctx.rel(path)
        dropped: list[Dropped] = []
        f, rows = records_frame(json_records(path, ctx), self._KEYS, rel, dropped)
        ts = iso_times(f["time"], ctx.timezone)
        types = pd.to_numeric(f["type"], errors="coerce")
        dropped += rows_dropped(rel, rows, ts.isna(), "unparseable_time", "time is not readable")
        dropped += rows_dropped(rel, rows, types.isna() & ts.notna(), "unknown_type", "type is not a number")
        bad = ts.isna() | types.isna()
        if bad.any():
            f, ts, types, rows = f[~bad], ts[~bad], types[~bad], rows[~bad.to_numpy()]
        subtypes = pd.to_numeric(f["subType"], errors="coerce").fillna(0).astype("int64")
        decoded = [
            decode_json(t, s, c, x)
            for t, s, c, x in zip(types.astype("int64"), subtypes, f["content"], f["contents"], strict=True)
        ]
        sender, sender_name = f["sender"].str.strip(), f["senderName"].str.strip()
        is_self = f["isSelf"] == "1"
        system = sender == SYSTEM_SENDER
        sender_id = sender.where(per_value(sender, is_wxid, dtype="bool"), "")
        sender_name = sender_name.where(~system, "")
        _record_people(sender_id, sender_name, is_self, ctx)
        chat_id, chat_name, is_group = _chat_fields(
            f["talker"].str.strip(), f["talkerName"].str.strip(), ctx, path.stem
        )
        is_group = is_group | (f["isChatRoom"] == "1")
        messages = message_frame(
            len(f),
            ctx.timezone,
            source_file=rel,
            source_format=self.name,
            source_row=rows,
            chat_id=chat_id,
            chat_name=chat_name,
            is_group=is_group,
            msg_id="",  # `seq` is chatlog's own ordering number, not WeChat's server id
            ts=ts,
            sender_id=sender_id,
            sender_name=sender_name,
            is_self=is_self,
            kind=[str(d.kind) for d in decoded],
            text=[d.text for d in decoded],
            quote_of=[d.quote_of for d in decoded],
            quote_sender=[d.quote_sender for d in decoded],
            media_ref=[d.media_ref for d in decoded],
        )
        return ParsedTable(messages, dropped)


# ---- text ----

# "{senderName}({sender}) [{talkerName}({talker})] {time}": time as "2006-01-02 15:04:05", or
# shorter when the queried range made the date or year redundant.
_TEXT_HEADER_RE = re.compile(
    r"(?P<who>.+?) (?:\[(?P<chat>[^\]]*)\] )?(?P<time>(?:(?:\d{4}-)?\d{2}-\d{2} )?\d{2}:\d{2}:\d{2})"
)
_YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DATE_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?!\d)")


def _split_who(who: str) -> tuple[str, str]:
    """`name(id)` -> (name, id); a bare `id` -> ("", id)."""
    if who.endswith(")") and "(" in who:
        i = who.rindex("(")
        return who[:i].strip(), who[i + 1 : -1].strip()
    return "", who.strip()


class ChatlogText:
    """Plain-text output: `"{senderName}({sender}) {time}\\n{content}\\n\\n"`; `我` for own messages.
    When the time has no year (or no date) it is taken from the file name (e.g. `mom_2024.txt`,
    `chat_2024-03-01.txt`); without one those messages are dropped with a reason."""

    name: ClassVar[str] = "chatlog_text"
    role: ClassVar[str] = "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.suffix.lower() not in (".txt", ".log", ".md"):
            return False
        line = head_text(head).lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
        m = _TEXT_HEADER_RE.fullmatch(line)
        return bool(m) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group("who"))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        date = _DATE_RE.search(path.stem)
        year = _YEAR_RE.search(path.stem)
        records = []
        for number, (m, body) in enumerate(blocks(read_text(path, ctx), _TEXT_HEADER_RE), start=1):
            name, wxid = _split_who(m.group("who"))
            chat_name, chat = _split_who(m.group("chat") or "")
            records.append((number, m.group("time"), name, wxid, chat_name, chat, "\n".join(body)))

        own_ids = {r[3] for r in records if r[3] in ctx.self_names}
        others = {r[3] for r in records if r[3] not in own_ids and r[3] != SYSTEM_SENDER and is_wxid(r[3])}
        stem = path.stem
        if unmistakable_id(stem):  # named after the chat's id
            default_chat, default_group = stem, group_chat_id(stem)
        elif len(others) == 1 and any(name_key(r[2]) == name_key(stem) for r in records if r[3] in others):
            default_chat, default_group = next(iter(others)), False  # private chat named after the partner
        else:
            default_chat, default_group = name_id(stem), len(others) > 1

        people: set[tuple[str, str, bool]] = set()
        for number, clock, name, wxid, chat_name, chat, body in records:
            stamp = self._full_time(clock, date, year)
            ts = local_time(stamp, ctx.timezone) if stamp else None
            if ts is None:
                reason = "time_without_date" if not stamp else "unparseable_time"
                yield Dropped(
                    rel,
                    number,
                    reason,
                    f"message {number}: the time has no year/date; put it in the file name",
                )
                continue
            decoded = parse_rendered(body)
            system = wxid == SYSTEM_SENDER
            kind = decoded.kind
            if system and kind is Kind.TEXT:
                kind = Kind.RECALL if RECALL_MARK in body else Kind.SYSTEM
            is_self = wxid in ctx.self_names or name in ctx.self_names
            cid = chat or default_chat
            yield Message(
                source_file=rel,
                source_format=self.name,
                source_row=number,
                chat_id=cid,
                chat_name=chat_name or (stem if cid == default_chat else cid),
                is_group=group_chat_id(cid) if chat else default_group,
                ts=ts,
                sender_id=wxid if is_wxid(wxid) else "",
                sender_name="" if system or name in ctx.self_names else name,
                is_self=is_self,
                kind=kind,
                text=decoded.text if not system else body,
                quote_of=decoded.quote_of,
                quote_sender=decoded.quote_sender,
            )
            if is_wxid(wxid) and name:
                people.add((wxid, name, is_self))
        for wxid, name, own in people:
            ctx.contacts.add_person(wxid, name, owner=own)

    @staticmethod
    def _full_time(clock: str, date: re.Match | None, year: re.Match | None) -> str:
        """`clock` completed to `YYYY-MM-DD HH:MM:SS` from the file name where needed ("" if it can't be)."""
        if re.fullmatch(r"\d{4}-\d{2}-\d{2} .*", clock):
            return clock
        if re.fullmatch(r"\d{2}-\d{2} .*", clock):
            return f"{year.group(1)}-{clock}" if year else ""
        return f"{date.group(1)}-{date.group(2)}-{date.group(3)} {clock}" if date else ""
