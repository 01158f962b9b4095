"""MemoTrace (WeChatMsg, "留痕") exports: `<remark>_utf8.csv`, "export all" `messages.csv`,
`<remark>.txt` and the AI-oriented `<remark>_chat.txt` (wechat-formats.md §1–2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from pipelines.ingest.formats import (
    LOCAL_PREFIX,
    PLACEHOLDER_PREFIXES,
    ParseContext,
    ParsedTable,
    group_chat_id,
    is_wxid,
    iter_table,
    name_id,
    name_key,
    per_value,
)
from pipelines.ingest.formats.appmsg import MD5_PATTERN, MEDIA_TYPES, RECALL_MARK, decode_content, kind_for
from pipelines.ingest.formats.textfile import (
    blocks,
    first_line,
    head_text,
    local_time,
    local_times,
    numbers,
    read_csv,
    read_text,
    rows_dropped,
    unix_times,
)
from pipelines.ingest.schema import Dropped, Kind, Message, message_frame

CSV_HEADER = (
    "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
)
CSV_COLUMNS = CSV_HEADER.split(",")
_SHORT_WIDTH = 9  # older builds wrote only the first 9 columns for private chats


def chat_remark(path: Path) -> str:
    """The chat's remark as MemoTrace names its files (`<remark>_utf8.csv`, `<remark>.txt`,
    `<remark>_chat.txt`), sanitised the way MemoTrace sanitises it."""
    stem = path.stem
    for suffix in ("_utf8", "_chat"):
        stem = stem.removesuffix(suffix)
    return stem


class MemoTraceCsv:
    """`<remark>_utf8.csv` per chat (12 columns, or 9 for private chats in older builds) and the
    "export all" `messages.csv` (same header, `Sender` is a display name and `我` is self)."""

    name: ClassVar[str] = "memotrace_csv"
    role: ClassVar[str] = "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() == ".csv" and first_line(head).startswith(",".join(CSV_COLUMNS[:6]))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        yield from iter_table(self.parse_table(path, ctx))

    def parse_table(self, path: Path, ctx: ParseContext) -> ParsedTable:
        rel = ctx.rel(path)
        csv_rows = read_csv(path, ctx, short_widths=(_SHORT_WIDTH,))
        f = csv_rows.frame
        for column in CSV_COLUMNS:
            if column not in f:
                f[column] = ""
        rows = csv_rows.rows
        dropped = csv_rows.dropped

        types, subtypes = numbers(f["Type"]), numbers(f["SubType"]).fillna(0)
        ts = unix_times(f["CreateTime"], ctx.timezone)
        if ts.isna().any():  # fall back to the local StrTime column
            ts = ts.fillna(local_times(f["StrTime"], ctx.timezone))
        bad_type, bad_time = types.isna(), ts.isna() & types.notna()
        dropped += rows_dropped(rel, rows, bad_type, "unknown_type", "Type is not a number")
        dropped += rows_dropped(rel, rows, bad_time, "unparseable_time", "CreateTime/StrTime not readable")
        ok = ~(bad_type | bad_time)
        if not ok.all():
            f, types, subtypes, ts, rows = f[ok], types[ok], subtypes[ok], ts[ok], rows[ok.to_numpy()]
        types, subtypes = types.astype("int64"), subtypes.astype("int64")

        kinds, text, quote_of, quote_sender, media_ref = _decode_columns(types, subtypes, f["StrContent"])
        ctx.note("appmsg_without_content", int(((types == 49) & (f["StrContent"].str.strip() == "")).sum()))

        is_self = f["IsSender"].str.strip() == "1"
        sender = f["Sender"].str.strip()
        name_mode = _sender_is_display_name(path, sender, ctx)
        if name_mode:
            # "export all": Sender is what the chat showed; names are resolved to wxids later.
            is_self = is_self | sender.isin(ctx.self_names)
            sender_id = pd.Series("", index=f.index, dtype="str")
            sender_name = sender.where(~sender.isin(ctx.self_names), "")
        else:
            sender_id, sender_name = _senders_by_wxid(f, sender, is_self, ctx)

        chat_id, chat_name, is_group = _chats(f, sender_id, sender_name, is_self, path, name_mode, ctx)
        msg_id = f["MsgSvrID"].str.strip() if "MsgSvrID" in f else ""
        messages = message_frame(
            len(f),
            ctx.timezone,
            source_file=rel,
            source_format=self.name,
            source_row=rows,
            chat_id=chat_id,
            chat_name=chat_name,
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


# Base types whose body says nothing beyond its kind (and, for media, the file's md5).
_BODYLESS_TYPES = (3, 34, 37, 42, 43, 47, 50)


def _decode_columns(types: pd.Series, subtypes: pd.Series, content: pd.Series) -> tuple[pd.Series, ...]:
    """kind, text, quote_of, quote_sender, media_ref columns. Text rows (most of any chat) and
    media rows are handled column-wise; only app, location and system bodies are parsed one by one."""
    kinds = pd.Series("text", index=content.index, dtype="str")
    text = content.copy()
    quote_of = pd.Series("", index=content.index, dtype="str")
    quote_sender, media_ref = quote_of.copy(), quote_of.copy()
    bodyless = types.isin(_BODYLESS_TYPES)
    if bodyless.any():
        kinds[bodyless] = per_value(types[bodyless], lambda t: str(kind_for(int(t))))
        text[bodyless] = ""
        media = types.isin(list(MEDIA_TYPES))
        media_ref[media] = content[media].str.extract(MD5_PATTERN, expand=False).fillna("")
    rest = (types != 1) & ~bodyless
    if rest.any():
        decoded = [
            decode_content(int(t), int(s), c)
            for t, s, c in zip(types[rest], subtypes[rest], content[rest], strict=True)
        ]
        kinds[rest] = [str(d.kind) for d in decoded]
        text[rest] = [d.text for d in decoded]
        quote_of[rest] = [d.quote_of for d in decoded]
        quote_sender[rest] = [d.quote_sender for d in decoded]
        media_ref[rest] = [d.media_ref for d in decoded]
    return kinds, text, quote_of, quote_sender, media_ref


def _sender_is_display_name(path: Path, sender: pd.Series, ctx: ParseContext) -> bool:
    """True for "export all" files, whose Sender column holds display names instead of wxids."""
    if path.name.lower() == "messages.csv":
        return True
    shown = sender[sender != ""].unique()
    if len(shown) == 0:
        return False
    if any(s in ctx.self_names for s in shown):
        return True
    return sum(not is_wxid(s) for s in shown) > len(shown) / 2


def _senders_by_wxid(
    f: pd.DataFrame, sender: pd.Series, is_self: pd.Series, ctx: ParseContext
) -> tuple[pd.Series, pd.Series]:
    """Per-chat files: Sender is the wxid, NickName the raw nickname, Remark the (sanitised) remark.
    Records every (wxid, names) pair in the contacts so other exports can be resolved by name."""
    remark, nick = f["Remark"].str.strip(), f["NickName"].str.strip()
    people = pd.DataFrame({"wxid": sender, "remark": remark, "nick": nick, "self": is_self})
    people = people.drop_duplicates(["wxid", "remark", "nick", "self"])
    valid = {w: is_wxid(w) for w in people["wxid"].unique()}
    shown: dict[tuple[str, str, str], str] = {}
    for wxid, rem, nk, own in people.itertuples(index=False):
        # The remark is what the owner calls them; when it is only the sanitised nickname, the
        # nickname is the better display form. Unknown members have their wxid in every column.
        name = nk if not rem or rem == wxid or (nk and name_key(nk) == name_key(rem)) else rem
        shown[(wxid, rem, nk)] = "" if name == wxid else name
        if valid[wxid]:
            ctx.contacts.add_person(wxid, name, rem, nk, owner=bool(own))
    keys = sender + "\x00" + remark + "\x00" + nick
    joined = {"\x00".join(k): v for k, v in shown.items()}
    sender_name = per_value(keys, joined.__getitem__)
    sender_id = sender.where(per_value(sender, valid.__getitem__, dtype="bool"), "")
    return sender_id, sender_name


def _chats(
    f: pd.DataFrame,
    sender_id: pd.Series,
    sender_name: pd.Series,
    is_self: pd.Series,
    path: Path,
    name_mode: bool,
    ctx: ParseContext,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chat id, name and group flag per row. TalkerId is a wxid in some builds but usually the
    database's local integer id, so the chat is identified from what the file does show: the
    partner's wxid in a private chat, else the remark in the file name (resolved later)."""
    remark = None if name_mode else chat_remark(path)
    talker = f["TalkerId"].str.strip()
    chat_id = np.empty(len(f), dtype=object)
    chat_name = np.empty(len(f), dtype=object)
    is_group = np.zeros(len(f), dtype=bool)
    has_sender = (f["Sender"].str.strip() != "").to_numpy()
    for value, index in talker.groupby(talker, sort=False).indices.items():
        if is_wxid(value):
            cid, group = value, group_chat_id(value)
            cname = remark or value
        else:
            others_id = sender_id.iloc[index][~is_self.iloc[index].to_numpy()]
            others_name = sender_name.iloc[index][~is_self.iloc[index].to_numpy()]
            cid, cname, group = _local_chat(value, remark, others_id, others_name, has_sender[index].any())
        chat_id[index], chat_name[index], is_group[index] = cid, cname, group
        if not cid.startswith(PLACEHOLDER_PREFIXES) and cname != cid:
            ctx.contacts.add_chat(cid, cname, group)
    return chat_id, chat_name, is_group


def _local_chat(
    talker: str, remark: str | None, others_id: pd.Series, others_name: pd.Series, has_sender: bool
) -> tuple[str, str, bool]:
    """(chat id, chat name, is_group) for a chat known only by a local TalkerId."""
    ids = sorted(set(others_id.unique()) - {""})
    names = sorted(set(others_name.unique()) - {""})
    if remark is None:  # "export all": no file name to go by
        if len(names) == 1:
            return name_id(names[0]), names[0], False
        return f"{LOCAL_PREFIX}memotrace-{talker}", "", len(names) > 1
    if not has_sender:  # 9-column rows: written only for private chats
        return name_id(remark), remark, False
    # One partner whose name is the file's remark: a private chat with them.
    if len(ids) <= 1 and len(names) <= 1 and (not names or name_key(names[0]) == name_key(remark)):
        return (ids[0] if ids else name_id(remark)), remark, False
    return name_id(remark), remark, True


# ---- TXT ----

_TXT_HEADER_RE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (.*)")
# Placeholders the TXT export writes instead of media, as WeChat (type, subtype) codes.
_TXT_PLACEHOLDERS = {
    "[图片]": (3, 0),
    "[语音]": (34, 0),
    "[视频]": (43, 0),
    "[表情包]": (47, 0),
    "[文件]": (49, 6),
    "[音乐分享]": (49, 3),
}


def private_self_names(names: set[str], remark: str, ctx: ParseContext) -> set[str]:
    """Which names in a name-only export are the owner. A private chat's export is named after the
    partner's remark, so when exactly two names appear and one is that remark, the other is the
    owner; `self_names` (e.g. "我") always are."""
    own = {n for n in names if n in ctx.self_names}
    rest = names - own
    if len(rest) == 2:
        partner = [n for n in rest if name_key(n) == name_key(remark)]
        if len(partner) == 1:
            own |= rest - set(partner)
    return own


def _name_only_chat(names: set[str], own: set[str], remark: str) -> tuple[str, bool]:
    """Chat id placeholder and group flag for exports that show only names."""
    return name_id(remark), len(names - own) > 1


class MemoTraceTxt:
    """`<remark>.txt`: `"{StrTime} {name}\\n{body}\\n\\n"` per message; media as placeholders."""

    name: ClassVar[str] = "memotrace_txt"
    role: ClassVar[str] = "messages"

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.suffix.lower() != ".txt" or path.name.endswith("_chat.txt"):
            return False
        return bool(_TXT_HEADER_RE.fullmatch(head_text(head).lstrip("\r\n").split("\n", 1)[0].rstrip("\r")))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        remark = chat_remark(path)
        records = [
            (number, m.group(1), m.group(2).strip(), body)
            for number, (m, body) in enumerate(blocks(read_text(path, ctx), _TXT_HEADER_RE), start=1)
        ]
        ctx.notes["not_in_this_format"] = "locations, transfers, red packets, forwards, mini programs; wxids"
        names = {who for _, _, who, body in records if body}
        own = private_self_names(names, remark, ctx)
        chat_id, group = _name_only_chat(names, own, remark)
        for number, stamp, who, body in records:
            ts = local_time(stamp, ctx.timezone)
            if ts is None:
                yield Dropped(rel, number, "unparseable_time", f"message {number}: bad time")
                continue
            if not body:  # "{StrTime} {content}" alone: a system notice
                kind = Kind.RECALL if RECALL_MARK in who else Kind.SYSTEM
                fields = {"kind": kind, "text": who, "sender_name": "", "is_self": False}
            else:
                fields = {"sender_name": who, "is_self": who in own, **_txt_body(body)}
            yield Message(
                source_file=rel,
                source_format=self.name,
                source_row=number,
                chat_id=chat_id,
                chat_name=remark,
                is_group=group,
                ts=ts,
                sender_id="",
                **fields,
            )


def _txt_body(body: list[str]) -> dict:
    """Kind, text and quote of a TXT message body."""
    first = body[0].strip()
    if len(body) == 1 and first in _TXT_PLACEHOLDERS:
        return {"kind": kind_for(*_TXT_PLACEHOLDERS[first]), "text": ""}
    if first.startswith("[链接]:title:"):
        return {"kind": kind_for(49, 5), "text": first.removeprefix("[链接]:title:").strip()}
    if body[-1].startswith("引用:"):
        quoted = body[-1].removeprefix("引用:")
        who, _, what = quoted.partition(":") if quoted != "未知" else ("", "", "")
        return {"kind": Kind.QUOTE, "text": "\n".join(body[:-1]), "quote_of": what, "quote_sender": who}
    return {"kind": Kind.TEXT, "text": "\n".join(body)}


class MemoTraceChatTxt:
    """`<remark>_chat.txt` (MemoTrace's "AI" export): text only, one line per run of messages from
    the same side, under `****YYYY-MM-DD****` day headers. It cannot give times (only the day),
    message boundaries inside a run, or who spoke within a run of group members: each run becomes
    one message at a synthetic time (day start + its order in seconds), noted in the report."""

    name: ClassVar[str] = "memotrace_chat_txt"
    role: ClassVar[str] = "messages"
    day_precision: ClassVar[bool] = True  # ingest treats its rows as covered by exact exports of that day

    _DAY_RE = re.compile(r"\*{20}(\d{4}-\d{2}-\d{2})\*{20}")
    _TURN_RE = re.compile(r"([^:：\s][^:：\n]{0,39}):(.*)")

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.name.endswith("_chat.txt") and bool(self._DAY_RE.search(head_text(head)))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Message | Dropped]:
        rel = ctx.rel(path)
        remark = chat_remark(path)
        turns: list[list] = []  # [day, name, lines]
        day, name = None, ""
        for line in read_text(path, ctx).replace("\r\n", "\n").split("\n"):
            if m := self._DAY_RE.fullmatch(line.strip()):
                day = m.group(1)
                continue
            if day is None or not line.strip():
                continue
            if m := self._TURN_RE.fullmatch(line):
                name = m.group(1).strip()
                turns.append([day, name, [m.group(2)]])
            elif turns and turns[-1][0] == day:  # continuation line of a multi-line message
                turns[-1][2].append(line)
            else:  # same side as before the day header: the label is not repeated
                turns.append([day, name, [line]])
        names = {t[1] for t in turns if t[1]}
        own = private_self_names(names, remark, ctx)
        chat_id, group = _name_only_chat(names, own, remark)
        order: dict[str, int] = {}
        for number, (day, who, body) in enumerate(turns, start=1):
            start = local_time(f"{day} 00:00:00", ctx.timezone)
            if start is None:
                yield Dropped(rel, number, "unparseable_time", f"run {number}: bad day header")
                continue
            order[day] = order.get(day, -1) + 1
            yield Message(
                source_file=rel,
                source_format=self.name,
                source_row=number,
                chat_id=chat_id,
                chat_name=remark,
                is_group=group,
                ts=start + timedelta(seconds=order[day]),
                sender_id="",
                sender_name=who if who not in ctx.self_names else "",
                is_self=who in own,
                kind=Kind.TEXT,
                text="\n".join(body).strip(),
                extra={"ts_precision": "day"},
            )
        ctx.note("time_to_the_day", len(turns))
        ctx.note("runs_not_split_into_messages", len(turns))
        ctx.notes["not_in_this_format"] = "times, non-text messages, group members within a run; wxids"
