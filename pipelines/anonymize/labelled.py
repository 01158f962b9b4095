"""A labelled set of Chinese chat messages for measuring the anonymizer (issue 17), and its score.

    messages = labelled_messages(seed=0)        # ~400 messages, every sensitive span labelled
    scores = score(masker, messages, members)   # precision and recall per entity type

The messages are built from templates of how family chats mention people: members by name or
nickname (they become their placeholder), people outside the chat by full name, surname + title or
given name (`<PERSON>`), kin terms that name nobody (`外婆`, `舅舅`: kept), and words that look like
names but are ordinary words (`高兴`, `周末`, `金额`, `江南`: kept); phone numbers in digits, in
Chinese numerals (`一三八…`, `幺三八…`) and mixed; addresses down to the district or street without
a house number. Fictional throughout. A template set, not real chats: it measures what the
recognisers catch, and it must be joined by real held-out exports before a number is trusted.

Two splits with nothing in common but the members: `dev` (the pools below, used while the PERSON
recogniser was tuned) and `held_out` (other names, titles, given names, kin terms, decoys and
templates, written before any tuning and never tuned on). A number is trusted on `held_out`.

Scoring, per entity type: recall = labelled spans wholly inside a masked span / labelled spans (a
name half masked still leaks); precision = masked spans of that type that overlap a labelled span
/ masked spans of that type (masking `高兴` destroys the message). Kin terms and decoys carry no
label: masking them counts against precision of whatever type masked them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from runtime import pii

MEMBERS = ["小雨", "林晓雨", "阿杰", "王建国", "Annie"]  # chat members (their names are known)
OUTSIDERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴敏", "徐婷婷",
             "孙浩然", "马丽", "朱晓明", "胡军", "郭美玲", "何建华", "高志强", "林峰", "罗燕", "欧阳娜娜",
             "司马光明", "郑秀英", "谢文", "韩梅梅"]  # fmt: skip
TITLED = ["王医生", "李老师", "张阿姨", "刘叔叔", "陈师傅", "赵经理", "周主任", "黄护士"]
GIVEN = ["建华", "秀英", "志强", "婷婷", "浩然"]  # given names alone, after a cue
# 老王, 阿强: nicknames (added to dev after held_out was written)
NICKNAMES = ["老王", "小李", "老张", "阿强", "小陈", "老刘", "阿芳", "小赵"]
KIN = ["外婆", "奶奶", "舅舅", "姑姑", "表哥", "小孙子", "孙女", "儿媳妇", "亲家"]
DECOYS = ["高兴", "周末", "金额", "江南", "方便", "白天", "常常", "马上", "夏天", "钱包", "文件", "石头",
          "万一", "于是", "黄瓜", "安全", "平安", "林子", "宋词", "司机",
          "小时", "小心", "老实", "小说", "老家", "阿姨", "老板", "小孩"]  # fmt: skip
DIGIT_PHONES = ["13812345678", "139 1234 5678", "186-2345-6789"]
NUMERAL_PHONES = [
    "一三八一二三四五六七八",
    "幺三九一二三四五六七八",
    "一八六二三四五六七八九",
    "1三8一2345六七8",
]
# (what may stay, the part that says where someone lives): a city alone identifies nobody
ADDRESSES = [("上海市", "徐汇区"), ("", "长乐路"), ("北京市", "朝阳区"), ("杭州", "西湖区"), ("", "南京路"),
             ("成都市", "武侯区")]  # fmt: skip

# (template, slots): {M} member, {P} outsider, {T} titled outsider, {G} given name after a cue,
# {N} nickname, {K} kin term, {D} decoy, {PH} phone in digits, {PZ} phone in numerals, {A} address
TEMPLATES = [
    "我昨天见了{P}，他说{P2}下周来",
    "{M} 你跟{P}说一声",
    "{K}说{T}明天来家里",
    "今天跟{P}和{T}一起去公园",
    "{P}的电话是{PH}",
    "记一下{P}的号码 {PZ}",
    "打给{T}吧：{PZ}",
    "{M}，{K}今天很{D}",
    "{D}我们去{A}吃饭",
    "我家在{A}，{D}来坐坐",
    "{K}住在{A}那边",
    "@{M} {P}找你",
    "听{T}说{G}要结婚了",
    "{G}跟我说的",
    "{P}给{K}带了礼物，{D}",
    "这个{D}的事问{P}",
    "{M}说{P}已经到了",
    "周末和{K}去{A}，{P}也去",
    "{D}！{T}帮了大忙",
    "你记得{P}吗？以前住{A}",
    "{K}的手机 {PH} 打不通",
    "新号码{PZ}，{P}的",
    "{P}、{P2}和{M}都来了",
    "谢谢{T}和{K}",
    "{D}{D2}，{M}早点睡",
    "{N}说今天不来了",
    "跟{N}约了周末喝茶",
    "{K}让我问{N}借车，{D}",
    "昨天{N}来过，带了水果",
    "你问问{N}吧",
]


# The held-out split: written before the recogniser was tuned; never look at its misses to tune.
HELD_OUT = {
    "P": [
        "李强",
        "王秀兰",
        "张静",
        "刘伟",
        "陈明",
        "杨洋",
        "赵敏",
        "黄勇",
        "周红",
        "吴刚",
        "徐丽",
        "孙磊",
        "马超",
        "朱丹",
        "胡斌",
        "何雪",
        "高洁",
        "林芳",
        "罗军",
        "宋佳",
        "唐小龙",
        "韩冰",
        "冯雪梅",
        "邓超",
        "曹雪",
        "彭丽",
        "田甜",
        "董洁",
        "袁华",
        "潘虹",
        "蒋欣",
        "蔡明",
        "杜鹃",
        "叶青",
        "程浩",
        "魏巍",
        "苏醒",
        "丁磊",
        "沈阳",
        "姚明",
        "姜文",
        "崔健",
        "谭晶",
        "汪洋",
        "范伟",
        "金晨",
        "石磊",
        "贾玲",
        "夏雨",
        "方圆",
        "白雪",
        "孟飞",
        "熊伟",
        "江涛",
        "雷鸣",
        "黎明",
        "诸葛亮亮",
        "上官婉儿",
    ],
    "T": ["孙医生", "吴老师", "郑阿姨", "何师傅", "林主任", "马大夫", "杨教授", "徐护士", "高律师", "罗校长"],
    "G": ["秀兰", "丽华", "志明", "海燕", "国强", "桂英", "春梅", "晓东"],
    "K": ["爷爷", "外公", "大姨", "小姑", "堂弟", "表妹", "侄子", "女婿", "老伴", "干妈"],
    "D": [
        "许多",
        "曾经",
        "任何",
        "方法",
        "白菜",
        "金子",
        "黄金",
        "周围",
        "李子",
        "高速",
        "常见",
        "安静",
        "石榴",
        "钟头",
        "田野",
        "叶子",
        "龙虾",
        "时间",
        "毛衣",
        "童年",
        "温暖",
        "江边",
        "花生",
        "包子",
        "连续",
        "华丽",
        "成功",
        "雷雨",
        "马虎",
        "陈旧",
    ],
    "templates": [
        "{P}昨天打电话来了",
        "我刚碰到{P}，她问你好",
        "明天{P}请客，你去不去",
        "给{P}发个红包吧",
        "{T}说下周复查",
        "{K}和{P}是同学",
        "把照片发给{P}",
        "{P}家的孩子考上大学了",
        "你问问{G}，她知道",
        "{G}今天来吃饭",
        "好久没见{P}了",
        "那天{D}，{K}也在",
        "{D}的时候别忘了带钥匙",
        "{P}和{P2}都退休了",
        "我们周六去看{T}",
        "{K}让{P}明天过来",
        "听说{P}住院了，我们去看看",
        "号码{PH}是{P}的",
        "这是{P}送的{D}",
        "代我谢谢{P}",
        "{D}，{D2}",
        "{M}，{P}找你有事",
        "{P}：{PZ}",
        "{K}说{D}不错",
        "上次{T}和{G}也来了",
    ],
}


@dataclass(frozen=True)
class Labelled:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, entity): PERSON, SPEAKER, PHONE, ADDRESS


SPLITS = ("dev", "held_out")


def labelled_messages(seed: int = 0, per_template: int = 16, split: str = "dev") -> list[Labelled]:
    """Every template of the split filled `per_template` times with names, terms and values drawn
    at random."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: one of {SPLITS}")
    rng = random.Random(seed)
    dev = {"P": OUTSIDERS, "T": TITLED, "G": GIVEN, "K": KIN, "D": DECOYS}
    words = dev if split == "dev" else HELD_OUT
    pools = {"M": (MEMBERS, "SPEAKER"), "P": (words["P"], "PERSON"), "T": (words["T"], "PERSON"),
             "G": (words["G"], "PERSON"), "K": (words["K"], None), "D": (words["D"], None),
             "N": (NICKNAMES, "PERSON"),
             "PH": (DIGIT_PHONES, "PHONE"), "PZ": (NUMERAL_PHONES, "PHONE"),
             "A": (ADDRESSES, "ADDRESS")}  # fmt: skip
    out = []
    for template in TEMPLATES if split == "dev" else HELD_OUT["templates"]:
        for _ in range(per_template):
            text, spans, pos = "", [], 0
            used: dict[str, str] = {}
            while (start := template.find("{", pos)) >= 0:
                end = template.index("}", start)
                text += template[pos:start]
                slot = template[start + 1 : end]
                pool, entity = pools[slot.rstrip("0123456789")]
                value = rng.choice([v for v in pool if v not in used.values()] or pool)
                used[slot] = value
                kept, value = value if isinstance(value, tuple) else ("", value)
                text += kept
                if entity:
                    spans.append((len(text), len(text) + len(value), entity))
                text += value
                pos = end + 1
            out.append(Labelled(text + template[pos:], tuple(spans)))
    return out


def member_masker(entities, names_model=None, ner=None):
    """The anonymizer as the stage builds it, knowing the set's chat members (and nobody else)."""
    import pandas as pd

    from pipelines.anonymize import speakers
    from pipelines.anonymize.masking import Masker

    names = {f"<U{i + 1}>": {name} for i, name in enumerate(MEMBERS)}
    people = speakers.People(pd.Series([], dtype=bool), pd.Series([], dtype=bool), {}, names, {})
    return Masker.build(entities, speakers.name_index(people), names_model, ner)


def evaluate(entities, names_model=None, propagate_min_count: int = 0, split: str = "dev", ner=None) -> dict:
    """The stage's masking (both passes, the set as one corpus) scored on a split of the set."""
    from pipelines.anonymize.masking import mask_texts

    messages = labelled_messages(split=split)
    masked = mask_texts(
        member_masker(entities, names_model, ner), [m.text for m in messages], True, propagate_min_count
    )
    return score(masked.spans, messages)


def score(spans_per_message, messages: list[Labelled]) -> dict:
    """Precision and recall per entity type; `spans_per_message[i]`: the masker's resolved spans in
    messages[i] (objects with start, end, entity)."""
    found, caught, predicted, correct = Counter(), Counter(), Counter(), Counter()
    for m, spans in zip(messages, spans_per_message, strict=True):
        for start, end, entity in m.spans:
            found[entity] += 1
            caught[entity] += any(s.start <= start and end <= s.end for s in spans)
        for s in spans:
            entity = pii.SAME_PLACEHOLDER.get(s.entity, s.entity)  # ADDRESS_STREET counts as ADDRESS
            predicted[entity] += 1
            correct[entity] += any(
                s.start < end and start < s.end and e == entity for start, end, e in m.spans
            )
    entities = sorted(set(found) | set(predicted))
    return {
        e: {
            "labelled": found[e],
            "masked": predicted[e],
            "recall": round(caught[e] / found[e], 3) if found[e] else None,
            "precision": round(correct[e] / predicted[e], 3) if predicted[e] else None,
        }
        for e in entities
    }
