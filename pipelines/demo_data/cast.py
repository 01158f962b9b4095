"""Who is in the demo: the fictional persona, the grandchild whose account exported the chats,
the other speakers, the chats they share, and the personal data they mention.

Everything here is invented. Numbers are drawn from the seed but built well-formed (resident ids
with valid MOD 11-2 check characters, bank cards passing Luhn, real-looking phone and plate
shapes), so PII recognizers and their validators have something real to find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from runtime.pii import id_number_valid, luhn_valid


@dataclass(frozen=True, slots=True)
class Person:
    """One chat participant as WeChat knows them, from the exporting account's point of view."""

    role: str  # the part they play in the script: persona, owner, mum, ...
    wxid: str
    real_name: str
    nickname: str  # their own WeChat nickname
    remark: str = ""  # what the owner saved them as ("" for the owner and for strangers)
    account: str = ""  # custom WeChat id (Alias); mentioned in text as "加我微信 …"
    group_names: tuple[tuple[str, str], ...] = ()  # (chat role, group nickname)
    text_names: tuple[str, ...] = ()  # how others write their name inside messages
    signature: str = ""  # profile signature (users.json ExtraBuf)
    province: str = ""
    city: str = ""

    def group_name(self, chat: str) -> str:
        """The name the group shows for them (group nickname, else nickname)."""
        return dict(self.group_names).get(chat, self.nickname)

    def shown(self, chat: str = "") -> str:
        """The name the owner's client shows: the remark when they saved one."""
        return self.remark or self.group_name(chat)


@dataclass(frozen=True, slots=True)
class Chat:
    role: str  # family, garden, private
    id: str  # `…@chatroom` for groups, the partner's wxid for a private chat
    name: str
    members: tuple[str, ...]  # person roles
    joins: tuple[tuple[str, float], ...] = ()  # (role, fraction of the period) for late joiners

    @property
    def is_group(self) -> bool:
        return self.id.endswith("@chatroom")

    def joined_at(self, role: str) -> float:
        return dict(self.joins).get(role, 0.0)


OWNER = "owner"
PERSONA = "persona"
EXCLUDED = "tom"  # the third party conf/subject.yaml excludes

PEOPLE: tuple[Person, ...] = (
    Person(
        PERSONA,
        "wxid_meilan_chen01",
        "陈美兰",
        "Meilan 🌻",
        remark="外婆",
        account="meilan_sunflower52",
        group_names=(("garden", "陈美兰"),),
        text_names=("外婆", "Meilan", "Grandma Mei", "陈美兰"),
        signature="家和万事兴 🌻",
        province="江苏",
        city="苏州",
    ),
    Person(
        OWNER,
        "wxid_xiaoyu_lin88",
        "林小雨",
        "小雨",
        account="linxy_rain88",
        group_names=(("garden", "Xiaoyu"),),
        text_names=("小雨", "Xiaoyu"),
        signature="moving forward ☁️",
        province="上海",
        city="杨浦",
    ),
    Person(
        "mum",
        "wxid_chenjing_1975",
        "陈静",
        "陈静",
        remark="老妈",
        account="chenjing_75",
        signature="Keep calm and carry on",
        province="上海",
        city="徐汇",
    ),
    Person(
        "uncle",
        "wxid_jianguo_chen70",
        "陈建国",
        "建国",
        remark="舅舅",
        account="jianguo1970",
        signature="天道酬勤",
        province="江苏",
        city="苏州",
    ),
    Person("cousin", "wxid_chenhao_2003", "陈浩", "Haoooo", signature="lol", province="江苏", city="南京"),
    Person(
        "neighbour",
        "wxid_wangguifang_66",
        "王桂芳",
        "桂芳",
        remark="王阿姨",
        group_names=(("garden", "王桂芳"),),
        text_names=("王阿姨", "王桂芳"),
        province="江苏",
        city="苏州",
    ),
    Person(
        "helen",
        "wxid_helenzhou_77",
        "Helen Zhou",
        "Helen",
        account="helen_zhou77",
        group_names=(("garden", "Helen Zhou"),),
        text_names=("Helen Zhou", "Helen"),
    ),
    Person(
        "sun",
        "wxid_sunlihua_garden",
        "孙丽华",
        "丽华",
        group_names=(("garden", "孙丽华"),),
        text_names=("孙丽华",),
    ),
    # The third party who did not agree to take part (conf/subject.yaml `exclude`).
    Person(
        EXCLUDED,
        "wxid_tomzhao_garden",
        "Tom Zhao",
        "Tom Zhao",
        group_names=(("garden", "赵汤姆"),),
        text_names=("Tom Zhao", "赵汤姆"),
    ),
)
BY_ROLE: dict[str, Person] = {p.role: p for p in PEOPLE}

CHATS: tuple[Chat, ...] = (
    Chat(
        "family",
        "38571209466@chatroom",
        "陈家大院",
        (PERSONA, OWNER, "mum", "uncle", "cousin"),
        joins=(("cousin", 0.015),),
    ),
    Chat(
        "garden",
        "24680135792@chatroom",
        "阳台花友会",
        (PERSONA, OWNER, "neighbour", "helen", "sun", "tom"),
        joins=(("helen", 0.01), ("tom", 0.02)),
    ),
    Chat("private", BY_ROLE[PERSONA].wxid, BY_ROLE[PERSONA].remark, (PERSONA, OWNER)),
)
CHAT_BY_ROLE: dict[str, Chat] = {c.role: c for c in CHATS}

# People who are not in any chat but are named in messages (PERSON entities for anonymize).
NON_MEMBERS: tuple[dict, ...] = (
    {
        "name": "刘芳",
        "about": "the persona's cardiologist",
        "forms": ("刘芳医生", "刘医生", "Dr. Liu Fang", "Dr. Liu"),
    },
    {"name": "张敏", "about": "the owner's thesis supervisor", "forms": ("张敏老师", "Professor Zhang Min")},
    {"name": "黄伟", "about": "the plumber", "forms": ("黄伟师傅", "黄师傅")},
    {"name": "何建华", "about": "the persona's former colleague", "forms": ("何建华",)},
    {"name": "Peter Walsh", "about": "the owner's exchange-programme friend", "forms": ("Peter Walsh",)},
    # named only in free text, by bare name, and listed nowhere in conf/: the person finder's job
    {"name": "张伟", "about": "the uncle's old classmate", "forms": ("张伟",)},
    {"name": "王芳", "about": "a neighbour from the persona's old street", "forms": ("王芳",)},
    {"name": "赵丽华", "about": "a garden-club friend who is not in the group", "forms": ("赵丽华", "丽华")},
    {"name": "陈浩", "about": "the uncle's son-in-law", "forms": ("陈浩",)},
)


# ---------------------------------------------------------------------------- generated PII


@dataclass(frozen=True, slots=True)
class PiiValue:
    key: str  # template slot, e.g. persona_mobile_intl
    entity: str  # runtime.pii entity type
    value: str
    owner: str  # person role (or "club", "clinic", a non-member)


_MOBILE_PREFIXES = ("135", "136", "138", "139", "150", "158", "177", "186", "187", "188")
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # plates skip I and O


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def resident_id(rng: random.Random, area: str, born: date, female: bool) -> str:
    """18-digit resident id: area, birth date, order number (odd for men), check character."""
    order = f"{rng.randrange(10, 100)}{rng.choice(range(0 if female else 1, 10, 2))}"
    body = f"{area}{born:%Y%m%d}{order}"
    # The check character is whatever the shared validator accepts: one definition of MOD 11-2.
    return next(body + c for c in "0123456789X" if id_number_valid(body + c))


def bank_card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return next(body + c for c in "0123456789" if luhn_valid(body + c))


def grouped(digits: str, sep: str = " ", size: int = 4) -> str:
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


def mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + _digits(rng, 8)


def phone_3_4_4(number: str, sep: str) -> str:
    return sep.join((number[:3], number[3:7], number[7:]))


def plate(rng: random.Random, province: str, city: str) -> str:
    while True:
        tail = "".join(rng.choice(_PLATE_CHARS) for _ in range(5))
        if sum(ch.isdigit() for ch in tail) >= 2:
            return f"{province}{city}{tail}"


def make_pii(rng: random.Random) -> tuple[PiiValue, ...]:
    """Every PII value the script mentions, each spelling its own entry."""
    out: list[PiiValue] = []

    def add(key: str, entity: str, value: str, owner: str) -> None:
        out.append(PiiValue(key, entity, value, owner))

    nums = {role: mobile(rng) for role in (PERSONA, OWNER, "mum", "uncle")}
    add("persona_mobile_intl", "PHONE", "+86 " + phone_3_4_4(nums[PERSONA], " "), PERSONA)
    add("persona_mobile_dashed", "PHONE", phone_3_4_4(nums[PERSONA], "-"), PERSONA)
    add("persona_mobile", "PHONE", nums[PERSONA], PERSONA)
    add("owner_mobile_spaced", "PHONE", phone_3_4_4(nums[OWNER], " "), OWNER)
    add("owner_mobile", "PHONE", nums[OWNER], OWNER)
    add("mum_mobile_dashed", "PHONE", phone_3_4_4(nums["mum"], "-"), "mum")
    add("uncle_mobile", "PHONE", nums["uncle"], "uncle")
    home = "6" + _digits(rng, 7)
    add("persona_landline", "PHONE", f"0512-{home[:4]} {home[4:]}", PERSONA)
    add("persona_landline_paren", "PHONE", f"(0512) {home}", PERSONA)
    add("uncle_office", "PHONE", f"021-5{_digits(rng, 7)}", "uncle")
    add("neighbour_landline", "PHONE", f"0512-6{_digits(rng, 7)}", "neighbour")
    add("clinic_landline", "PHONE", f"0512-6{_digits(rng, 3)} {_digits(rng, 4)}", "刘芳")

    persona_id = resident_id(rng, "320508", date(1952, 3, 14), female=True)
    add("persona_id", "ID_NUMBER", persona_id, PERSONA)
    add("persona_id_spaced", "ID_NUMBER", f"{persona_id[:6]} {persona_id[6:14]} {persona_id[14:]}", PERSONA)
    add("owner_id", "ID_NUMBER", resident_id(rng, "320508", date(2004, 8, 21), female=True), OWNER)
    add("uncle_id", "ID_NUMBER", resident_id(rng, "320503", date(1970, 11, 2), female=False), "uncle")

    pension = bank_card(rng, "621785", 19)
    add("persona_card19_spaced", "BANK_CARD", grouped(pension), PERSONA)
    add("persona_card19", "BANK_CARD", pension, PERSONA)
    uncle_card = bank_card(rng, "622202", 16)
    add("uncle_card16", "BANK_CARD", uncle_card, "uncle")
    add("uncle_card16_spaced", "BANK_CARD", grouped(uncle_card), "uncle")
    add("sun_card16_spaced", "BANK_CARD", grouped(bank_card(rng, "622848", 16)), "sun")

    add("owner_email", "EMAIL", "linxy88@example.org", OWNER)
    add("mum_email", "EMAIL", "chen.jing75@example.com", "mum")
    add("helen_email", "EMAIL", "helen.zhou77@example.net", "helen")
    add("club_email", "EMAIL", "yangtai.garden@example.com", "club")

    street_no, building, flat = (
        rng.randrange(20, 200),
        rng.randrange(1, 9),
        rng.randrange(2, 7) * 100 + rng.randrange(1, 4),
    )
    add("persona_address_zh", "ADDRESS", f"苏州市姑苏区平江路{street_no}号{building}栋{flat}室", PERSONA)
    add(
        "persona_address_en",
        "ADDRESS",
        f"Flat {flat}, Building {building}, {street_no} Pingjiang Road, Gusu District, Suzhou",
        PERSONA,
    )
    dorm_no, dorm_b, dorm_r = (
        rng.randrange(100, 900),
        rng.randrange(1, 12),
        rng.randrange(1, 7) * 100 + rng.randrange(1, 30),
    )
    add("owner_address_zh", "ADDRESS", f"上海市杨浦区国权路{dorm_no}号{dorm_b}号楼{dorm_r}室", OWNER)
    add(
        "owner_address_en",
        "ADDRESS",
        f"Room {dorm_r}, Building {dorm_b}, {dorm_no} Guoquan Road, Yangpu District, Shanghai",
        OWNER,
    )
    venue = rng.randrange(100, 1500)
    add("club_address_zh", "ADDRESS", f"苏州市姑苏区干将西路{venue}号社区活动中心", "club")
    add(
        "club_address_en",
        "ADDRESS",
        f"Community Centre, {venue} Ganjiang West Road, Gusu District, Suzhou",
        "club",
    )
    add("market_address_zh", "ADDRESS", f"江苏省苏州市姑苏区人民路{rng.randrange(100, 3000)}号", PERSONA)

    uncle_plate = plate(rng, "苏", "E")
    add("uncle_plate", "PLATE", f"{uncle_plate[:2]}·{uncle_plate[2:]}", "uncle")
    add("uncle_plate_plain", "PLATE", uncle_plate, "uncle")
    add("mum_plate", "PLATE", f"沪AD{_digits(rng, 5)}", "mum")
    add("tom_plate", "PLATE", plate(rng, "苏", "E"), EXCLUDED)

    add("persona_account", "WECHAT_ID", BY_ROLE[PERSONA].account, PERSONA)
    add("helen_account", "WECHAT_ID", BY_ROLE["helen"].account, "helen")
    add("uncle_account", "WECHAT_ID", BY_ROLE["uncle"].account, "uncle")
    add("owner_qq", "QQ", f"{rng.randrange(1, 10)}{_digits(rng, 9)}", OWNER)
    add("uncle_qq", "QQ", f"{rng.randrange(1, 10)}{_digits(rng, 8)}", "uncle")
    return tuple(out)
