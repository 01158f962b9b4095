"""WeChat's own stored form of a demo event: type codes and the raw bodies the PC client keeps
(StrContent XML for media, the decompressed CompressContent XML for type-49 app messages).

Exporters that copy raw bodies (MemoTrace CSV, chatlog JSON) and those that render them
(PyWxDump) all start from here, so every format describes the same message.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from pipelines.demo_data.cast import Chat, Person
from pipelines.demo_data.script import Event

# kind -> (Type, SubType) as in the MSG table (wechat-formats.md §6).
TYPE_CODES: dict[str, tuple[int, int]] = {
    "text": (1, 0),
    "image": (3, 0),
    "voice": (34, 0),
    "video": (43, 0),
    "sticker": (47, 0),
    "location": (48, 0),
    "link": (49, 5),
    "file": (49, 6),
    "quote": (49, 57),
    "transfer": (49, 2000),
    "red_packet": (49, 2001),
    "call": (50, 0),
    "system": (10000, 0),
    "recall": (10000, 57),
}


def type_code(event: Event) -> tuple[int, int]:
    """(Type, SubType); notices carry their own subtype (4 pat, 8000 invite)."""
    base, sub = TYPE_CODES[event.kind]
    return (base, event.sub) if event.kind == "system" else (base, sub)


def attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _attrs(pairs: dict[str, object]) -> str:
    return " ".join(f'{k}="{attr(v)}"' for k, v in pairs.items())


def image_xml(e: Event) -> str:
    d = e.data
    img = {
        "aeskey": d["aes"],
        "encryver": 1,
        "cdnthumbaeskey": d["aes"],
        "cdnthumburl": d["cdn"],
        "cdnthumblength": d["size"] // 20,
        "cdnthumbheight": d["h"] // 8,
        "cdnthumbwidth": d["w"] // 8,
        "cdnmidheight": 0,
        "cdnmidwidth": 0,
        "cdnhdheight": 0,
        "cdnhdwidth": 0,
        "cdnmidimgurl": d["cdn"],
        "length": d["size"],
        "md5": d["md5"],
    }
    tail = "\t<platform_signature></platform_signature>\n\t<imgdatahash></imgdatahash>\n"
    return f'<?xml version="1.0"?>\n<msg>\n\t<img {_attrs(img)} />\n{tail}</msg>\n'


def voice_xml(e: Event, sender: Person) -> str:
    d = e.data
    voice = {
        "endflag": 1,
        "cancelflag": 0,
        "forwardflag": 0,
        "voiceformat": 4,
        "voicelength": d["ms"],
        "length": d["size"],
        "bufid": 0,
        "aeskey": d["aes"],
        "voiceurl": d["cdn"],
        "voicemd5": "",
        "clientmsgid": d["client"],
        "fromusername": sender.wxid,
    }
    # The "转文字" transcript, when the owner asked for one, is stored beside the voice.
    trans = f'<voicetrans transtext="{attr(e.text)}" lang="zh" />' if d["transcribed"] else ""
    return f"<msg><voicemsg {_attrs(voice)} />{trans}</msg>"


def video_xml(e: Event, sender: Person) -> str:
    d = e.data
    video = {
        "aeskey": d["aes"],
        "cdnvideourl": d["cdn"],
        "cdnthumbaeskey": d["aes"],
        "cdnthumburl": d["cdn"],
        "length": d["size"],
        "playlength": d["seconds"],
        "cdnthumblength": d["size"] // 200,
        "cdnthumbwidth": 288,
        "cdnthumbheight": 512,
        "fromusername": sender.wxid,
        "md5": d["md5"],
        "newmd5": d["md5b"],
        "isplaceholder": 0,
        "rawmd5": "",
        "rawlength": 0,
        "overwritenewmsgid": 0,
        "isad": 0,
    }
    return f'<?xml version="1.0"?>\n<msg>\n\t<videomsg {_attrs(video)} />\n</msg>\n'


def sticker_url(e: Event) -> str:
    d = e.data
    return (
        f"http://wxapp.tc.qq.com/262/20304/stodownload?m={d['md5']}&filekey={d['key']}"
        f"&hy=SH&storeid={d['store']}&bizid=1023"
    )


def sticker_xml(e: Event, sender: Person, chat: Chat) -> str:
    d = e.data
    emoji = {
        "fromusername": sender.wxid,
        "tousername": chat.id,
        "type": 2,
        "idbuffer": "media:0_0",
        "md5": d["md5"],
        "len": d["size"],
        "productid": "",
        "androidmd5": d["md5"],
        "androidlen": d["size"],
        "cdnurl": sticker_url(e),
        "designerid": "",
        "thumburl": "",
        "width": 240,
        "height": 240,
    }
    return f"<msg><emoji {_attrs(emoji)}></emoji></msg>"


def location_fields(e: Event, sender: Person) -> dict[str, object]:
    d = e.data
    return {
        "x": d["x"],
        "y": d["y"],
        "scale": 16,
        "label": d["label"],
        "maptype": "roadmap",
        "poiname": d["poiname"],
        "poiid": d["poiid"],
        "buildingId": "",
        "floorName": "",
        "isFromPoiList": "true",
        "adcode": "320508",
        "cityname": "苏州市",
        "fromusername": sender.wxid,
    }


def location_xml(e: Event, sender: Person) -> str:
    return f'<?xml version="1.0"?>\n<msg>\n\t<location {_attrs(location_fields(e, sender))} />\n</msg>\n'


def voip_xml(e: Event) -> str:
    d = e.data
    return (
        '<voipmsg type="VoIPBubbleMsg"><VoIPBubbleMsg>'
        f"<msg><![CDATA[{e.text}]]></msg>\n<room_type>1</room_type>\n<red_dot>false</red_dot>\n"
        f"<roomid>{d['room']}</roomid>\n<roomkey>0</roomkey>\n<inviteid>{e.ts}</inviteid>\n"
        f"<msg_type>100</msg_type>\n<timestamp>{e.ts * 1000}</timestamp>\n"
        f"<identity><![CDATA[{d['room']}]]></identity>\n"
        f"<duration>0</duration>\n<inviteid64>{e.ts * 1000}</inviteid64>\n<business>1</business>\n"
        "<caller_memberid>0</caller_memberid>\n<callee_memberid>1</callee_memberid>\n</VoIPBubbleMsg></voipmsg>"
    )


def _appmsg(inner: str, sender: Person) -> str:
    return (
        f'<?xml version="1.0"?>\n<msg>\n\t<appmsg appid="" sdkver="0">\n{inner}\t</appmsg>\n'
        f"\t<fromusername>{escape(sender.wxid)}</fromusername>\n\t<scene>0</scene>\n"
        "\t<appinfo>\n\t\t<version>1</version>\n\t\t<appname></appname>\n\t</appinfo>\n\t<commenturl></commenturl>\n</msg>\n"
    )


class Cdata(str):
    """A value the client wraps in <![CDATA[…]]> instead of escaping."""


def _tags(pairs: dict[str, object], depth: int = 2) -> str:
    """One line per tag at `depth` tabs; dict values nest, "" is an empty element."""
    pad, out = "\t" * depth, []
    for tag, value in pairs.items():
        if isinstance(value, dict):
            out.append(f"{pad}<{tag}>\n{_tags(value, depth + 1)}{pad}</{tag}>\n")
        elif value == "":
            out.append(f"{pad}<{tag} />\n")
        elif isinstance(value, Cdata):
            out.append(f"{pad}<{tag}><![CDATA[{value}]]></{tag}>\n")
        else:
            out.append(f"{pad}<{tag}>{escape(str(value))}</{tag}>\n")
    return "".join(out)


def appmsg_xml(e: Event, sender: Person, chat: Chat, people: dict[str, Person]) -> str:
    """The type-49 body (links, files, quotes, transfers, red packets)."""
    d = e.data
    head = {"des": "", "action": "", "showtype": 0}
    if e.kind == "link":
        fields = {"title": d["title"], **head, "des": d["des"], "type": 5, "url": d["url"]}
        fields["sourcedisplayname"] = d["source"]
    elif e.kind == "file":
        attach = {"totallen": d["size"], "attachid": d["attach"], "fileext": d["ext"]}
        fields = {"title": d["name"], **head, "type": 6, "appattach": attach, "md5": d["md5"]}
    elif e.kind == "quote":
        ref: Event = d["ref"]
        who = people[ref.sender]
        refer = {"type": 1, "svrid": ref.svrid, "fromusr": chat.id, "chatusr": who.wxid}
        refer |= {"displayname": quoted_name(who, chat), "content": ref.text, "createtime": ref.ts}
        fields = {"title": e.text, **head, "type": 57, "refermsg": refer}
    elif e.kind == "transfer":
        pay = {
            "paysubtype": d["paysubtype"],
            "feedesc": Cdata(d["amount"]),
            "transcationid": d["transaction"],
        }
        pay |= {
            "transferid": d["transfer"],
            "invalidtime": d["begin"] + 86400,
            "begintransfertime": d["begin"],
        }
        pay |= {"effectivedate": 1, "pay_memo": Cdata(d["memo"])}
        des = f"收到转账{d['amount'][1:]}元。如需收钱，请点此升级至最新版本"
        fields = {"title": "微信转账", "des": des, "type": 2000, "wcpayinfo": pay}
    elif e.kind == "red_packet":
        native = "wxpay://c2cbizmessagehandler/hongbao/receivehongbao?msgtype=1&channelid=1&sendid="
        pay = {
            "templateid": d["template"],
            "receivertitle": Cdata(d["wish"]),
            "sendertitle": Cdata(d["wish"]),
        }
        pay |= {"scenetext": Cdata("微信红包"), "nativeurl": native + d["sendid"], "sceneid": 1002}
        pay |= {"paymsgid": d["sendid"], "invalidtime": e.ts + 86400}
        fields = {"des": "我给你发了一个红包，赶紧去拆!", "type": 2001, "title": "微信红包", "wcpayinfo": pay}
    else:
        raise ValueError(f"not an app message: {e.kind}")
    return _appmsg(_tags(fields), sender)


def quoted_name(who: Person, chat: Chat) -> str:
    """The name a quote shows for its author: how the chat displays them."""
    return who.group_name(chat.role)


def raw_content(e: Event, chat: Chat, people: dict[str, Person]) -> str:
    """What the client stores as the message body (StrContent, or the type-49 XML)."""
    sender = people.get(e.sender)
    if e.kind in ("text", "system", "recall"):
        return e.text
    if e.kind == "image":
        return image_xml(e)
    if e.kind == "voice":
        return voice_xml(e, sender)
    if e.kind == "video":
        return video_xml(e, sender)
    if e.kind == "sticker":
        return sticker_xml(e, sender, chat)
    if e.kind == "location":
        return location_xml(e, sender)
    if e.kind == "call":
        return voip_xml(e)
    return appmsg_xml(e, sender, chat, people)
