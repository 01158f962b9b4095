"""WeChat message type codes and the XML bodies of non-text messages.

Shared by every parser that sees WeChat's own codes or XML (MemoTrace CSV, chatlog JSON, the
decrypted databases). Stable API:

- `kind_for(type, subtype)`: the unified `Kind` for a WeChat (type, subtype) pair.
- `parse_appmsg(xml)`: the fields of a type-49 `<appmsg>` body (links, files, quotes, transfers…).
- `parse_sysmsg(xml)`: the fields of a type-10002 `<sysmsg>` body (recalls, pats, invites).
- `decode_content(type, subtype, content)`: kind, text, quote and media reference of one message.

Nothing here raises on malformed XML: bodies written by old clients are often not well-formed,
so parsing falls back to pulling the few tags we need out with regular expressions.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pipelines.ingest.schema import Kind

# Base types (wechat-formats.md §6).
_BASE_KINDS = {
    1: Kind.TEXT,
    3: Kind.IMAGE,
    34: Kind.VOICE,
    37: Kind.OTHER,  # friend request
    42: Kind.OTHER,  # contact card
    43: Kind.VIDEO,
    47: Kind.STICKER,
    48: Kind.LOCATION,
    50: Kind.CALL,
    10000: Kind.SYSTEM,
    10002: Kind.SYSTEM,  # XML system message; a revokemsg body makes it RECALL (see decode_content)
}

# Type-49 subtypes: the <type> inside <appmsg>.
_APP_KINDS = {
    1: Kind.TEXT,  # text sent through an app
    3: Kind.LINK,  # music share
    4: Kind.LINK,
    5: Kind.LINK,
    6: Kind.FILE,
    8: Kind.STICKER,  # uploaded GIF
    17: Kind.LOCATION,  # live location sharing
    19: Kind.OTHER,  # merged forward of a chat history
    24: Kind.OTHER,  # note
    33: Kind.LINK,  # mini program
    36: Kind.LINK,  # mini program
    50: Kind.LINK,  # Channels profile card
    51: Kind.LINK,  # Channels video
    57: Kind.QUOTE,
    62: Kind.SYSTEM,  # pat
    63: Kind.LINK,  # Channels live
    74: Kind.FILE,  # file being uploaded
    87: Kind.SYSTEM,  # group notice
    2000: Kind.TRANSFER,
    2001: Kind.RED_PACKET,
    2003: Kind.RED_PACKET,  # red packet cover
}

# Type-10000 subtypes that are recall notices ("X 撤回了一条消息"); 4 is a pat, 8000 an invite.
_RECALL_SUBTYPES = frozenset({1, 5, 6, 33, 36, 57})
RECALL_MARK = "撤回了一条消息"


def kind_for(type: int, subtype: int = 0) -> Kind:
    """The unified kind of a WeChat message from its type code and subtype.

    `type` is the base type (1 text, 3 image, 49 app message, 10000 system …); `subtype` is the
    SubType column (for type 49 the `<appmsg><type>` value). Unknown codes give `Kind.OTHER`.
    """
    if type == 49:
        return _APP_KINDS.get(subtype, Kind.OTHER)
    if type == 10000 and subtype in _RECALL_SUBTYPES:
        return Kind.RECALL
    return _BASE_KINDS.get(type, Kind.OTHER)


_TAG_RE = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.S) for tag in ("title", "des", "url", "type")}
_CDATA_RE = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_MARKUP_RE = re.compile(r"<[^>]+>")


def _xml_root(xml: str) -> ET.Element | None:
    # Group bodies may be prefixed with "wxid_x:\n", and some carry junk before the first tag.
    start = xml.find("<")
    if start < 0:
        return None
    try:
        return ET.fromstring(xml[start:].strip().rstrip("\x00"))
    except ET.ParseError:
        return None


def _text(node: ET.Element | None, path: str) -> str:
    found = node.find(path) if node is not None else None
    return (found.text or "").strip() if found is not None else ""


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except (ValueError, AttributeError):
        return 0


def _regex_tag(xml: str, tag: str) -> str:
    m = _TAG_RE[tag].search(xml)
    if not m:
        return ""
    value = _CDATA_RE.sub(r"\1", m.group(1))
    return html.unescape(value).strip()


_APPMSG_TEXT_FIELDS = (
    *("title", "des", "url", "app_name", "text", "file_name"),
    *("quote_of", "quote_sender", "quote_sender_id", "quote_svrid", "amount", "memo"),
)


def parse_appmsg(xml: str) -> dict:
    """Fields of a type-49 app-message body, as plain strings ("" when absent).

    Keys: `ok` (the XML parsed), `type` (int subtype), `title`, `des`, `url`, `app_name`,
    `text` (short human description for `Message.text`: reply text, link/file title, amount …),
    `file_name`, `quote_of`, `quote_sender`, `quote_sender_id`, `quote_svrid`, `quote_type`,
    `amount`, `pay_subtype`, `memo`, `record_count`.
    """
    out = dict.fromkeys(_APPMSG_TEXT_FIELDS, "")
    out.update(ok=False, type=0, quote_type=0, pay_subtype=0, record_count=0)
    root = _xml_root(xml or "")
    app = (
        root
        if root is not None and root.tag == "appmsg"
        else (root.find("appmsg") if root is not None else None)
    )
    if app is None:
        # Not well-formed: recover the headline fields only.
        out.update(
            type=_int(_regex_tag(xml or "", "type")),
            title=_regex_tag(xml or "", "title"),
            des=_regex_tag(xml or "", "des"),
            url=_regex_tag(xml or "", "url"),
        )
        out["text"] = out["title"]
        return out
    out["ok"] = True
    sub = _int(_text(app, "type"))
    out.update(type=sub, title=_text(app, "title"), des=_text(app, "des"), url=_text(app, "url"))
    out["app_name"] = (
        _text(app, "sourcedisplayname") or _text(app, "appname") or _text(root, "appinfo/appname")
    )
    text = out["title"]
    if sub in (6, 74):
        out["file_name"] = out["title"]
    elif sub == 57:
        refer = app.find("refermsg")
        out["quote_type"] = _int(_text(refer, "type"))
        out["quote_sender"] = _text(refer, "displayname")
        out["quote_sender_id"] = _text(refer, "chatusr") or _text(refer, "fromusr")
        out["quote_svrid"] = _text(refer, "svrid")
        quoted = _text(refer, "content")
        if out["quote_type"] == 49:  # the quoted message is itself an app message: use its title
            quoted = parse_appmsg(quoted)["text"]
        elif out["quote_type"] not in (0, 1):  # quoted media: its body is XML, not words
            quoted = ""
        out["quote_of"] = quoted
    elif sub in (2000, 2001, 2003):
        pay = app.find("wcpayinfo")
        out["pay_subtype"] = _int(_text(pay, "paysubtype"))
        out["amount"] = _text(pay, "feedesc")
        out["memo"] = _text(pay, "pay_memo")
        if sub == 2000:
            text = " ".join(filter(None, [out["amount"], out["memo"]])) or out["title"]
        else:
            text = _text(pay, "sendertitle") or _text(pay, "receivertitle") or out["title"]
    elif sub == 19:
        record = _text(app, "recorditem")
        out["record_count"] = record.count("<dataitem ")
    elif sub in (33, 36):
        text = out["title"] or out["app_name"]
    elif sub == 51:
        text = _text(app, "finderFeed/desc") or out["title"]
    elif sub == 62:
        text = out["title"] or _text(app, "patMsg/records/record/templete")
    elif sub == 87:
        text = _text(app, "textannouncement") or out["title"]
    out["text"] = text
    return out


def parse_sysmsg(xml: str) -> dict:
    """Fields of a type-10002 `<sysmsg type="…">` body: `ok`, `type` (e.g. "revokemsg", "pat",
    "sysmsgtemplate"), `text` (the notice as shown in the chat)."""
    root = _xml_root(xml or "")
    if root is None:
        replace = re.search(r"<replacemsg>(.*?)</replacemsg>", xml or "", re.S)
        text = _CDATA_RE.sub(r"\1", replace.group(1)) if replace else ""
        kind = re.search(r'<sysmsg[^>]*type="([^"]+)"', xml or "")
        return {"ok": False, "type": kind.group(1) if kind else "", "text": text.strip()}
    kind = root.get("type", "")
    if kind == "revokemsg":
        text = _text(root, "revokemsg/replacemsg")
    elif kind == "pat":
        text = _text(root, "pat/template")
    elif kind == "sysmsgtemplate":
        template = root.find("sysmsgtemplate/content_template")
        text = _text(template, "template")
        # "$username$ invited $names$": put the shown names back in place of the placeholders.
        for link in template.iter("link") if template is not None else ():
            names = [n.text or "" for n in link.iter("nickname")]
            text = text.replace(f"${link.get('name', '')}$", "、".join(filter(None, names)))
    else:
        text = " ".join(t.strip() for t in root.itertext() if t.strip())
    return {"ok": True, "type": kind, "text": _MARKUP_RE.sub("", text).strip()}


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one WeChat message body means for the unified table."""

    kind: Kind
    text: str = ""
    quote_of: str = ""
    quote_sender: str = ""
    media_ref: str = ""


MD5_PATTERN = r'\bmd5="([0-9a-fA-F]{16,64})"'  # the media file's md5 in image/video/sticker bodies
_MD5_RE = re.compile(MD5_PATTERN)
_ATTR_RE = {a: re.compile(rf'\b{a}="([^"]*)"') for a in ("poiname", "label")}
MEDIA_TYPES = frozenset({3, 43, 47})


def system_text(content: str) -> str:
    """A type-10000 notice as plain text (MemoTrace keeps the CDATA and a "re-edit" link)."""
    if "<" not in content:
        return content.strip()
    return _MARKUP_RE.sub("", _CDATA_RE.sub(r"\1", content)).strip()


def decode_content(type: int, subtype: int, content: str) -> Decoded:
    """Kind, text, quote and media reference of a message whose body is WeChat's own content
    (plain text for type 1, XML for media and app messages, notice text for 10000)."""
    content = content or ""
    if type == 1:
        return Decoded(Kind.TEXT, content)
    if type == 49:
        if "<" not in content:  # MemoTrace CSV leaves type-49 bodies empty: only the subtype is known
            return Decoded(kind_for(49, subtype), "")
        app = parse_appmsg(content)
        kind = kind_for(49, app["type"] or subtype)
        if kind is Kind.QUOTE:
            return Decoded(kind, app["text"], app["quote_of"], app["quote_sender"] or app["quote_sender_id"])
        return Decoded(kind, app["text"])
    if type in MEDIA_TYPES:
        md5 = _MD5_RE.search(content)
        return Decoded(kind_for(type, subtype), "", media_ref=md5.group(1) if md5 else "")
    if type == 48:
        place = next((m.group(1) for a in ("poiname", "label") if (m := _ATTR_RE[a].search(content))), "")
        return Decoded(Kind.LOCATION, html.unescape(place))
    if type == 10000:
        text = system_text(content)
        kind = Kind.RECALL if RECALL_MARK in text else kind_for(10000, subtype)
        return Decoded(kind, text)
    if type == 10002:
        sys = parse_sysmsg(content)
        return Decoded(Kind.RECALL if sys["type"] == "revokemsg" else Kind.SYSTEM, sys["text"])
    return Decoded(kind_for(type, subtype), "")
