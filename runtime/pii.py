"""PII shapes in chat text: typed patterns with checksum validators, and masking with placeholders.

One definition serves three places: `pipelines.anonymize` wraps these patterns as presidio
recognizers, the memory stage re-checks snippets, and the runtime strips PII-shaped text the model
invents. Standard library only (this module ships in the Windows runtime).

    >>> mask_pii("call 138-1234-5678 or mail li.hua@example.com")
    'call <PHONE> or mail <EMAIL>'

Patterns are written for ASCII digits and punctuation; `find_pii` matches them against a view of
the text with full-width forms folded to ASCII (same length, so spans fit the original text).
`\\b` is never used: it fails next to CJK characters, so boundaries are explicit lookarounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# Entity types in tie-break order (earlier wins when two findings cover exactly the same text).
ENTITIES = (
    *("ID_NUMBER", "BANK_CARD", "PHONE", "EMAIL", "WECHAT_ID", "QQ", "PLATE"),
    *("ADDRESS", "ADDRESS_STREET", "ADDRESS_DISTRICT", "PERSON"),
)
# Addresses without a house number, by level (conf/anonymize `entities` chooses the levels masked):
# a street (长乐路) or a district (上海市徐汇区) says where someone lives; a city alone does not.
SAME_PLACEHOLDER = {"ADDRESS_STREET": "ADDRESS", "ADDRESS_DISTRICT": "ADDRESS"}
SPEAKER = "SPEAKER"  # a known chat member's name; its placeholder is the member's (<TARGET>, <U3>)


@dataclass(frozen=True, slots=True)
class Span:
    """Where a finding sits in a text, what it is, and what replaces it. Never holds the value."""

    start: int
    end: int
    entity: str
    score: float = 1.0
    label: str = ""  # replacement text; "" means the typed placeholder <ENTITY>

    @property
    def placeholder(self) -> str:
        return self.label or placeholder(self.entity)


def placeholder(entity: str) -> str:
    return f"<{SAME_PLACEHOLDER.get(entity, entity)}>"


@dataclass(frozen=True, slots=True)
class PiiPattern:
    """One way an entity is written. When the regex has a group named `v`, only that group is the
    value (the rest is context such as "微信："); `validator` gets the value and may reject it."""

    entity: str
    name: str
    regex: re.Pattern[str]
    score: float = 1.0
    validator: Callable[[str], bool] | None = None


# ---------------------------------------------------------------------------- validators


def digits_of(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_valid(value: str) -> bool:
    """18-digit resident identity number: ISO 7064 MOD 11-2 check character (X stands for 10)."""
    chars = value.replace(" ", "").upper()
    if len(chars) != 18 or not chars[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(chars[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == chars[17]


def luhn_valid(value: str) -> bool:
    """Bank card number: 16-19 digits passing the Luhn check (and not one repeated digit,
    which passes Luhn but is a placeholder, not a card)."""
    digits = digits_of(value)
    if not 16 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def plate_valid(value: str) -> bool:
    """A licence plate has at least two digits; letter-only runs after a province character
    ("苏ABCDE") are more often words than plates."""
    return sum(ch.isdigit() for ch in value) >= 2


# Phone numbers read out digit by digit in Chinese: 一三八…, 幺 (yāo) for 1, 两 for 2, 零/〇 for 0.
ZH_DIGITS = "零〇一二三四五六七八九幺两"
_ZH_TO_DIGIT = str.maketrans({"零": "0", "〇": "0", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5",
                              "六": "6", "七": "7", "八": "8", "九": "9", "幺": "1", "两": "2"})  # fmt: skip


def spelled_mobile(value: str) -> bool:
    """A mobile number written (partly) in Chinese numerals: 11 digits once read, 1[3-9]…, with at
    least one numeral (all-digit numbers are cn_mobile's)."""
    digits = value.translate(_ZH_TO_DIGIT).replace(" ", "").replace("-", "")
    return any(ch in ZH_DIGITS for ch in value) and re.fullmatch(r"1[3-9][0-9]{9}", digits) is not None


def id_like(value: str) -> bool:
    """A WeChat id given without a separator must look like an id (digit, '_' or '-'), so that
    "加微信 thanks" keeps its English word."""
    return any(ch.isdigit() or ch in "_-" for ch in value)


# ---------------------------------------------------------------------------- patterns

_NOT_DIGIT_BEFORE = r"(?<![0-9])"
_NOT_DIGIT_AFTER = r"(?![0-9])"
# A phone is not the middle of a longer grouped number ("6222 0212 3456 7890" is one number).
_NOT_IN_DIGIT_GROUPS_BEFORE = r"(?<![0-9+])(?<![0-9]{3}[ -])"
_NOT_IN_DIGIT_GROUPS_AFTER = r"(?![0-9])(?![ -][0-9]{3})"
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_AREA = "[1-9][0-9]{1,2}"  # area code without its leading 0: 10 (Beijing), 21, 755…
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# Characters that end a Chinese place or person name in practice: pronouns, verbs of going and
# living, particles. Without a word segmenter they keep "我明天去建国路88号" from becoming one address.
_STOP_CHARS = "在去到住是的我你他她它们了从往来向和跟与及把被给说就也都还要想很呢吗吧啊呀哦嗯这那个有没"
_CJK = rf"(?:(?![{_STOP_CHARS}])[\u3400-\u9fff])"
_NUM = r"(?:[0-9]+|[一二三四五六七八九十百零〇两]+|[A-Za-z])"
_ADDR_UNIT = rf"{_NUM}(?:号楼|号院|号|弄|栋|幢|座|单元|楼|层|室|户)"
_ADMIN = rf"{_CJK}{{1,6}}?(?:省|自治区|市|区|县|镇|乡)"
_PLACE = rf"{_CJK}{{1,10}}?(?:大街|大道|胡同|路|街|巷|弄|小区|花园|家园|公寓|大厦|新村|苑|村|社区|广场)"
# Ordinary words that end like a place: X路 (马路, 公路, 走夜路), X街 (逛街, 步行街), X区 (小区, 社区,
# 住宅区): the character before the ending, or the whole word, rules a match out.
_NOT_BEFORE_ROAD = (
    "马走一出思线道公铁网电套上迷让带问半顺后退活门来去生死水陆岔弯近远小大土夜心歧赶开领拦挡探引同回短进末"
    "财言歪正航环聊"
)
_NOT_BEFORE_STREET = "逛上大老行业"
_NOT_BEFORE_DISTRICT = "小社地景园郊市城山灾禁误专分片校厂营矿库辖选街牧"
_NOT_DISTRICTS = (
    "住宅区|开发区|风景区|服务区|停车区|商业区|保税区|无人区|自治区|居民区|工业区|生活区|办公区|休息区|吸烟区"
    "|示范区|试验区|经济区|旅游区|保护区|高新区|新城区|老城区|核心区|中心区|功能区|主城区|候车区|特区"
)
_STREET_NAME = (
    rf"{_CJK}{{2,4}}?(?:(?<![{_NOT_BEFORE_ROAD}])(?:路|大道)|(?<![{_NOT_BEFORE_STREET}])(?:大街|街)"
    r"|胡同|(?<![小深])巷)"
)
_DISTRICT_NAME = (
    rf"(?:{_CJK}{{2,3}}(?:省|市))*(?!{_NOT_DISTRICTS}){_CJK}{{2}}(?<![{_NOT_BEFORE_DISTRICT}])[区县]"
)
_EN_STREET = (
    "Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close"
    "|Crescent|Square|Sq"
)
# The parts around an English street line: "Flat 403, Building 4, " before it, ", Gusu District, Suzhou"
# after it. Without them the flat and district stay readable beside <ADDRESS>.
_EN_UNIT = (
    r"(?:Flat|Room|Rm|Apt|Apartment|Unit|Suite|Building|Bldg|Block|Floor|Tower)\.? ?[0-9]{1,5}[A-Za-z]?, ?"
)
_EN_AREA = r", ?(?:[A-Z][a-z]+ ){1,2}(?:District|County|Province|New Area)(?:, ?[A-Z][a-z]+(?: City)?)?"
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "A-HJ-NP-Za-hj-np-z"  # plates skip I and O
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
    "汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单"
    "季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项芦麦褚"
)  # not 连: far more often "even" (连班主任都知道了) than a surname
_COMPOUND_SURNAMES = "欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容|尉迟|公孙|夏侯|长孙|宇文|司徒"
SURNAMES = tuple(dict.fromkeys(_SURNAMES))  # single-character surnames, commonest first
COMPOUND_SURNAMES = tuple(_COMPOUND_SURNAMES.split("|"))
_TITLES = "医生|大夫|老师|教授|律师|护士长|护士|师傅|经理|主任|院长|校长|局长|阿姨|叔叔|伯伯|先生|女士|小姐"
# a character between a surname and its title (王建国老师) that does not itself start a titled name
# (谢谢宋老师 is 宋老师, not 谢谢宋老师) and is no grammar word a given name never holds (到时候让阿姨
# is no 时候让 阿姨)
_GRAMMAR = "的了让说给跟叫是我你他她们这那就都也吗呢吧啊"
_TITLE_GAP = rf"(?:(?![{_SURNAMES}]{_CJK}?(?:{_TITLES}))(?![{_GRAMMAR}]){_CJK})"
# titles that also follow organisations (农业部部长, 常务书记): only straight after a surname (谭会计)
_SURNAME_TITLES = (
    "医师|科长|处长|厂长|队长|所长|部长|站长|村长|班长|行长|社长|书记|支书|"
    "会计|老板娘|老板|总监|教练|警官|工程师"
)
_EN_TITLES = "Dr|Mr|Mrs|Ms|Miss|Prof|Doctor|Professor"
MENTION_END = "\u2005"  # WeChat ends an @mention with a four-per-em space


def _p(entity: str, name: str, regex: str, score: float = 1.0, validator=None) -> PiiPattern:
    return PiiPattern(entity, name, re.compile(regex, re.ASCII), score, validator)


PII_PATTERNS: tuple[PiiPattern, ...] = (
    _p(
        "ID_NUMBER",
        "resident_id_18",
        rf"{_NOT_ALNUM_BEFORE}[1-9][0-9]{{5}} ?(?:18|19|20)[0-9]{{2}}(?:0[1-9]|1[0-2])"
        rf"(?:0[1-9]|[12][0-9]|3[01]) ?[0-9]{{3}}[0-9Xx]{_NOT_ALNUM_AFTER}",
        validator=id_number_valid,
    ),
    _p(
        "BANK_CARD",
        "card_16_19",
        rf"{_NOT_DIGIT_BEFORE}[0-9]{{4}}(?:[ -]?[0-9]{{4}}){{3}}(?:[ -]?[0-9]{{1,3}})?{_NOT_DIGIT_AFTER}",
        validator=luhn_valid,
    ),
    _p(
        "PHONE",
        "cn_mobile",  # 13812345678, 138-1234-5678, +86 138 1234 5678, 86-13812345678, (+86)138…
        rf"{_NOT_IN_DIGIT_GROUPS_BEFORE}(?:(?:\+|00)?86[ -]?|\(\+?86\) ?)?1[3-9][0-9](?:[ -]?[0-9]{{4}}){{2}}"
        rf"{_NOT_IN_DIGIT_GROUPS_AFTER}",
    ),
    _p(
        "PHONE",
        "cn_mobile_spelled",  # 一三八一二三四五六七八, 幺三九…, 1三8一2345六七8
        rf"(?<![0-9{ZH_DIGITS}])[1一幺](?:[ -]?[0-9{ZH_DIGITS}]){{10}}(?![0-9{ZH_DIGITS}])",
        validator=spelled_mobile,
    ),
    _p(
        "PHONE",
        "cn_landline",  # 010-12345678, (0755)12345678, 021 6123 4567, +86 21 6123 4567
        rf"{_NOT_IN_DIGIT_GROUPS_BEFORE}(?:(?:\+|00)86[ -]?(?:\(0?{_AREA}\)|0?{_AREA})|\(0{_AREA}\)|0{_AREA})"
        rf"[ -]?[0-9]{{3,4}}[ -]?[0-9]{{4}}{_NOT_IN_DIGIT_GROUPS_AFTER}",
    ),
    _p(
        "EMAIL",
        "email",  # ASCII only, so "发到li@x.com吧" stops at the address
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    ),
    _p("WECHAT_ID", "wxid", r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9_-]{4,40}"),
    _p(
        "WECHAT_ID",
        "wechat_id_after_separator",  # 微信：meilan, 微信号是 meilan, wx: meilan
        r"(?:微信|威信|薇信|[Vv]信|(?<![A-Za-z])(?i:wx|vx|wechat|weixin))(?: ?(?:号|(?i:id)))? ?[:是为] ?"
        r"(?P<v>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])",
    ),
    _p(
        "WECHAT_ID",
        "wechat_id_in_context",  # 加我微信 meilan_1958, vx meilan88
        r"(?:微信|威信|薇信|[Vv]信|(?<![A-Za-z])(?i:wx|vx|wechat|weixin))(?: ?(?:号|(?i:id)))? ?"
        r"(?:[:：是为]|(?i:is)(?![A-Za-z]))? ?(?P<v>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])",
        validator=id_like,
    ),
    _p(
        "QQ",
        "qq_in_context",  # QQ 12345678, qq号：12345678, 扣扣是12345, my QQ is 12345678
        rf"(?:(?<![A-Za-z])(?i:qq)|扣扣|企鹅)(?: ?号码?)? ?(?:[:：是为]|(?i:is)(?![A-Za-z]))? ?"
        rf"(?P<v>[1-9][0-9]{{4,11}}){_NOT_DIGIT_AFTER}",
    ),
    _p(
        "PLATE",
        "cn_plate",  # 京A12345, 粤B·8888A, new-energy 京AD12345 / 京A12345D
        rf"[{_PROVINCES}][{_PLATE_LETTER}][·・ ]?(?:[DFdf][{_PLATE_LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[DFdf]"
        rf"|[{_PLATE_LETTER}0-9]{{4}}[{_PLATE_LETTER}0-9挂学警港澳]){_NOT_ALNUM_AFTER}",
        validator=plate_valid,
    ),
    _p(
        "ADDRESS",
        "cn_street_address",  # 北京市朝阳区建国路88号, 幸福小区5栋302, 长乐路123弄4号201室
        rf"(?:{_ADMIN}){{0,3}}(?:{_PLACE}){{1,2}}(?:{_ADDR_UNIT}-?)+(?:[0-9]+{_NOT_DIGIT_AFTER})?",
        score=0.8,
    ),
    _p("ADDRESS_STREET", "cn_street_name", _STREET_NAME, score=0.7),  # 我家在长乐路, 南京路上
    _p("ADDRESS_DISTRICT", "cn_district", _DISTRICT_NAME, score=0.7),  # 上海市徐汇区, 住武侯区
    _p(
        "ADDRESS",
        # 12 Garden Road, 221B Baker Street; capitalised words only, so "5 miles down the road" stays
        "en_street_address",
        rf"{_NOT_ALNUM_BEFORE}(?:{_EN_UNIT}){{0,3}}[0-9]{{1,5}}[A-Za-z]? (?:[A-Z][a-z]+ ){{1,3}}"
        rf"(?:{_EN_STREET})\.?(?:{_EN_AREA})?(?![A-Za-z])",
        score=0.8,
    ),
    _p(
        "PERSON",
        "cn_honorific",  # 王医生, 李老师, 欧阳建国教授, 谭会计
        rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])(?:{_TITLE_GAP}{{0,2}}?(?:{_TITLES})|(?:{_SURNAME_TITLES}))",
        score=0.6,
    ),
    _p(
        "PERSON",
        "en_honorific",
        rf"(?<![A-Za-z])(?:{_EN_TITLES})\.? ?[A-Z][a-z]+(?: [A-Z][a-z]+)?",
        score=0.6,
    ),
    _p(
        "PERSON",
        "mention",  # @name + U+2005 in group chats; known members' names win over this (higher score);
        # an already-masked mention (@<U3>) is not PII any more
        r"@(?!所有人\u2005|(?i:all)\u2005|<[A-Z][A-Z0-9_]*>\u2005)(?P<v>[^@\n\u2005]{1,40})\u2005",
        score=0.5,
    ),
)

# Cheap necessary conditions, per entity type: when a type's trigger does not match the folded
# text, none of its patterns can. Written RE2-compatible (no lookarounds, no \u escapes) so that
# pyarrow can scan a whole column at once with PII_TRIGGER below.
PII_TRIGGERS: dict[str, str] = {
    "ID_NUMBER": r"[0-9]{3} ?[0-9]{4}",
    "BANK_CARD": r"[0-9]{3}[ -]?[0-9]{4}",
    "PHONE": rf"[0-9{ZH_DIGITS}]{{3}}[ -]?[0-9{ZH_DIGITS}]{{4}}",
    "EMAIL": r"@[A-Za-z0-9-]+\.",
    "WECHAT_ID": r"wxid_|微信|威信|薇信|[Vv]信|(?i:wx|vx|wechat|weixin)",
    "QQ": r"(?i:qq)|扣扣|企鹅",
    "PLATE": rf"[{_PROVINCES}][{_PLATE_LETTER}]",
    "ADDRESS": rf"{_NUM}(?:号|弄|栋|幢|座|单元|楼|层|室|户)|[0-9][A-Za-z]? [A-Z]",
    "ADDRESS_STREET": "路|大道|街|胡同|巷",
    "ADDRESS_DISTRICT": "区|县",
    "PERSON": rf"{_TITLES}|{_SURNAME_TITLES}|(?:{_EN_TITLES})\.? ?[A-Z]|" + MENTION_END,
}
# Full-width forms the patterns depend on (digits, letters, ＠－．＿ and the ideographic space):
# rare in chat, so a raw text containing one is simply a candidate and gets the exact check.
_FOLDABLE = "[０-９Ａ-Ｚａ-ｚ＠－．＿\u3000]"
# One trigger for raw (unfolded) text: a superset of the per-entity triggers on folded text.
PII_TRIGGER = "|".join(f"(?:{t})" for t in dict.fromkeys(PII_TRIGGERS.values())) + "|" + _FOLDABLE
_TRIGGER_RES = {e: re.compile(t, re.ASCII) for e, t in PII_TRIGGERS.items()}
_ANY_TRIGGER_RE = re.compile("|".join(f"(?:{t})" for t in PII_TRIGGERS.values()), re.ASCII)

# Full-width ASCII forms (１３８, ＠, （）) and the ideographic space fold to ASCII one-to-one.
FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """The text as patterns see it: full-width forms as ASCII, same length, same offsets."""
    return text.translate(FOLD)


def triggered_entities(text: str) -> list[str]:
    """Entity types whose trigger matches: the only ones worth looking for in this text."""
    view = fold(text)
    return [e for e, r in _TRIGGER_RES.items() if r.search(view)]


def could_contain_pii(text: str) -> bool:
    """False when no pattern can match: the text needs no closer look."""
    return _ANY_TRIGGER_RE.search(fold(text)) is not None


# ---------------------------------------------------------------------------- finding and masking


def iter_pattern(pattern: PiiPattern, view: str) -> Iterable[Span]:
    """Findings of one pattern in an already folded text, validated."""
    value_group = "v" in pattern.regex.groupindex
    for m in pattern.regex.finditer(view):
        start, end = m.span("v") if value_group else m.span()
        if pattern.validator is None or pattern.validator(view[start:end]):
            yield Span(start, end, pattern.entity, pattern.score)


def find_spans(text: str, patterns: Sequence[PiiPattern]) -> list[Span]:
    """Every finding of these patterns, overlapping ones included (see `resolve_spans`)."""
    view = fold(text)
    return [span for p in patterns for span in iter_pattern(p, view)]


def patterns_for(entities: Iterable[str]) -> tuple[PiiPattern, ...]:
    wanted = set(entities)
    unknown = wanted - set(ENTITIES)
    if unknown:
        raise ValueError(f"unknown PII entity types {sorted(unknown)}; known: {list(ENTITIES)}")
    return tuple(p for p in PII_PATTERNS if p.entity in wanted)


_PRIORITY = {e: i for i, e in enumerate((SPEAKER, *ENTITIES))}


def resolve_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, in order. Overlapping findings merge into one span covering all of
    them (so no fragment of a value survives), labelled by the longest finding, then the highest
    score, then entity priority (a known member's name before a generic entity)."""
    out: list[Span] = []
    cluster: list[Span] = []
    end = -1

    def close() -> None:
        if cluster:
            best = min(cluster, key=lambda s: (s.start - s.end, -s.score, _PRIORITY.get(s.entity, 99)))
            out.append(Span(cluster[0].start, end, best.entity, best.score, best.label))

    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.start >= end:
            close()
            cluster = []
        cluster.append(span)
        end = max(end, span.end)
    close()
    return out


def replace_spans(text: str, spans: Sequence[Span]) -> str:
    """Text with each (resolved, ordered) span replaced by its placeholder."""
    parts, pos = [], 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(s.placeholder)
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def find_pii(text: str, entities: Iterable[str] = ENTITIES) -> list[Span]:
    """Resolved PII findings of the given entity types."""
    return resolve_spans(find_spans(text, patterns_for(entities)))


def mask_pii(text: str, entities: Iterable[str] = ENTITIES) -> str:
    """The text with PII replaced by typed placeholders (<PHONE>, <ID_NUMBER>, …)."""
    return replace_spans(text, find_pii(text, entities))


# ---------------------------------------------------------------------------- names

# A Latin name must not start or end inside a longer Latin word ("Li" in "Lisa"); CJK names have no
# such boundary (Chinese has no spaces), so only edges that are Latin letters or digits get one.
_LATIN_WORD = "0-9A-Za-z_\u00c0-\u024f"
_LATIN_EDGE = re.compile(f"[{_LATIN_WORD}]")


def latin_edge(ch: str) -> bool:
    """A name that starts or ends with this character needs a word boundary there."""
    return bool(_LATIN_EDGE.match(ch))


def name_key(name: str) -> str:
    """How names are compared: case-insensitively, surrounding spaces ignored."""
    return name.strip().lower()


MAX_NAME_CHARS = 100  # longer "names" are pasted text, not names (and would deepen the trie)


def names_regex(names: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex finding any of `names`, longest first, with Latin word
    boundaries that also work next to CJK. Built as a trie so it stays fast with many names.
    None when there are no names."""
    keys = sorted({k for k in map(name_key, names) if 0 < len(k) <= MAX_NAME_CHARS})
    if not keys:
        return None
    latin_start = [k for k in keys if _LATIN_EDGE.match(k[0])]
    other_start = [k for k in keys if not _LATIN_EDGE.match(k[0])]
    alternatives = []
    if latin_start:
        alternatives.append(f"(?<![{_LATIN_WORD}]){_trie(latin_start)}")
    if other_start:
        alternatives.append(_trie(other_start))
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _trie(words: Sequence[str]) -> str:
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = f"(?![{_LATIN_WORD}])" if _LATIN_EDGE.match(w[-1]) else ""

    def emit(node: dict) -> str:
        # Children before the end marker: the regex prefers the longer name at each position.
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if "" in node:
            alts.append(node[""])
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root)


def find_names(text: str, regex: re.Pattern[str] | None, labels: dict[str, Span]) -> list[Span]:
    """Spans of known names in text. `labels` maps name_key(name) to a template span whose
    entity/score/label the finding takes (e.g. SPEAKER with label "<U3>")."""
    if regex is None:
        return []
    out = []
    for m in regex.finditer(text):
        t = labels.get(name_key(m.group()))
        if t is not None:
            out.append(Span(m.start(), m.end(), t.entity, t.score, t.label))
    return out
