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

Five splits with nothing in common but the members, phones and addresses: `dev` (the pools below,
used while the PERSON recogniser was tuned), `dev2` (written before any tuning, held out until
2026-12-06, then tuned on), `dev3` and `dev4` (each written by a helper who saw neither the
recogniser nor its misses, measured once, then tuned on) and `held_out` (written the same way,
never tuned on). A
number is trusted on `held_out`; once its misses are looked at it becomes a development split and a
new held-out split is written.

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


# The second development split: written before the recogniser was tuned and held out until
# 2026-12-06 (PERSON recall 0.864 there), then its misses were looked at and tuned on.
DEV2 = {
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


# The third development split: written on 2026-12-06 by a helper that saw neither the recogniser
# nor its misses, measured once (PERSON recall 0.885, precision 0.962), then tuned on.
DEV3 = {
    "P": [
        "王娟",
        "李霞",
        "张萍",
        "刘刚",
        "陈辉",
        "杨波",
        "黄敏",
        "赵亮",
        "吴霞",
        "周琴",
        "徐亮",
        "孙倩",
        "马宁",
        "朱敏",
        "胡蓉",
        "郭鹏",
        "何平",
        "梁艳",
        "谢萍",
        "宋伟",
        "许琳",
        "韩涛",
        "曾强",
        "肖红",
        "田莉",
        "潘玲",
        "余波",
        "王桂兰",
        "李建军",
        "张玉梅",
        "刘国庆",
        "陈淑华",
        "杨卫东",
        "黄春燕",
        "赵德胜",
        "吴凤英",
        "周永红",
        "徐爱民",
        "孙建平",
        "马翠兰",
        "朱长林",
        "郭素芬",
        "林子轩",
        "罗欣怡",
        "郑梓涵",
        "高俊熙",
        "唐思琪",
        "冯一诺",
        "邓佳怡",
        "彭宇航",
        "曹博文",
        "蒋依依",
        "蔡晓彤",
        "杜梦瑶",
        "魏子豪",
        "覃丽萍",
        "闫春生",
        "靳小军",
        "司徒敏",
        "皇甫俊杰",
    ],
    "T": ["曹医生", "彭老师", "邓总", "梁姐", "袁哥", "龚师傅", "蒋阿姨", "冯大爷", "卢经理", "谭会计"],
    "G": ["秀珍", "国华", "子涵", "淑芬", "玉兰", "德明", "梓萱", "浩宇", "红霞", "振国"],
    "N": ["老周", "小吴", "阿娟", "老徐", "小郑", "阿坤", "老胡", "小邓"],
    "K": ["二叔", "婶婶", "姥姥", "大伯", "弟媳", "嫂子", "姐夫", "舅妈", "外甥女", "小姨子"],
    "D": [
        "黄昏",
        "白酒",
        "高铁",
        "陆续",
        "马路",
        "余额",
        "周期",
        "严重",
        "付款",
        "贺卡",
        "房租",
        "毕业",
        "任务",
        "安排",
        "杨梅",
        "牛奶",
        "米饭",
        "康复",
        "卫生",
        "车票",
        "路上",
        "成绩",
        "凌晨",
        "柳树",
        "熊猫",
        "甘蔗",
        "刚刚",
        "明明",
        "乖乖",
        "天天",
    ],
    "templates": [
        "{P}到了没？我们在门口等着呢",
        "今天在菜市场遇到{P}，聊了半天",
        "楼下那个{P}搬走了你知道不",
        "下午三点，{P}、{P2}还有{K}一起去医院",
        "{P}的儿子下个月结婚，份子钱随多少合适",
        "这事你得问{P}呀",
        "刚打完电话，是{P}",
        "{M} 明天记得把钥匙给{P}",
        "嗯嗯，{T}说没啥大问题",
        "约了{T}周四上午十点，别忘了哈",
        "{T}的微信你有吗？推给我一下",
        "谁有{T}电话？{K}要找",
        "哈哈，{G}就爱吃这个",
        "{G}放学了没有？",
        "让{G}给我回个电话",
        "晚上吃饭叫上{G}吧",
        "{N}今天又加班啊",
        "好的，我跟{N}说",
        "{N}家的狗丢了，大家帮忙留意一下",
        "{K}和{N}在打麻将，叫不动",
        "说起{D}，{K}又要念叨了",
        "{D}{D2}的，烦死了",
        "你看这个{D}，{P}发的",
        "{K}问{D}的事怎么样了",
        "群里别老聊{D}了哈哈哈",
        "好好好，{D}我知道了，{M}你早点休息",
        "{P}的新号码{PH}，存一下",
        "有事打我电话{PZ}，或者找{P}",
        "快递寄到{A}，收件人写{P}，电话{PH}",
        "我们搬到{A}了，{P}帮了不少忙",
    ],
}


# The fourth development split: written on 2026-12-06 like dev3, measured once (PERSON recall
# 0.815, precision 0.962), then tuned on.
DEV4 = {
    "P": [
        "王慧",
        "李凯",
        "张颖",
        "刘兵",
        "陈鑫",
        "杨悦",
        "黄楠",
        "赵晖",
        "吴琼",
        "周毅",
        "徐蕾",
        "孙旭",
        "胡莹",
        "郭菲",
        "何欢",
        "罗岚",
        "梁璐",
        "宋昊",
        "谢锋",
        "韩晴",
        "冯霖",
        "邓妍",
        "钟薇",
        "陆彬",
        "聂琦",
        "柴瑞",
        "卞雯",
        "李桂芳",
        "张建设",
        "刘淑珍",
        "陈国栋",
        "杨素梅",
        "黄志刚",
        "赵金凤",
        "吴振华",
        "周德才",
        "徐玉珍",
        "孙宝林",
        "马秀云",
        "朱卫国",
        "林思远",
        "高欣妍",
        "罗宇轩",
        "郑诗涵",
        "梁沐阳",
        "谢雨桐",
        "宋嘉怡",
        "唐一鸣",
        "许若曦",
        "韩子墨",
        "冯梓睿",
        "彭天佑",
        "董思彤",
        "佘桂香",
        "阮红英",
        "葛永福",
        "祁雨萱",
        "詹志远",
        "令狐蕊",
        "东方毅",
    ],
    "T": ["宋老师", "邵总", "姚姐", "杜哥", "秦师傅", "苏奶奶", "贺叔", "侯工", "雷队长", "汤大夫"],
    "G": ["丽娟", "建新", "晓燕", "雨涵", "桂花", "明轩", "秋菊", "志伟", "欣悦", "宏亮"],
    "N": ["老杨", "小黄", "阿华", "老孙", "小马", "阿红", "老谢", "小叶"],
    "K": ["三姨", "大舅", "姑父", "表姐", "堂哥", "小叔子", "公公", "婆婆", "姥爷", "外孙"],
    "D": [
        "黄色",
        "高中",
        "马桶",
        "金鱼",
        "常用",
        "周到",
        "胡萝卜",
        "程序",
        "宋体",
        "陈皮",
        "杨树",
        "张开",
        "刘海",
        "郑重",
        "谢谢",
        "田螺",
        "姜汤",
        "钟表",
        "范围",
        "方向",
        "熊孩子",
        "雷阵雨",
        "龙眼",
        "毛巾",
        "汤圆",
        "孔雀",
        "万能",
        "严格",
        "收到",
        "晚安",
    ],
    "templates": [
        "{P}刚才在楼下喊你，听见没",
        "哎呀，光顾着{D}，忘了给{P}回消息",
        "昨晚{P}喝多了，{K}送他回去的",
        "这次聚餐有{P}、{P2}、{K}，一共八个人",
        "嗯嗯，{P}的孩子在{A}上学",
        "那不是{P}嘛",
        "刚才敲门的是谁？原来是{P}啊",
        "红包已经转过去了，收款人：{P}",
        "{K}一直念叨“{P}怎么还不来”",
        "大家周末有空吗，{P}请吃饭",
        "@{M} 帮我问下{T}几点开门",
        "{T}人真好，还帮我们搬了冰箱",
        "明早八点挂了{T}的号，{K}记得空腹",
        "好的好的，谢谢{T}！",
        "{G}呢？叫她下来吃饭了",
        "{K}说{G}今年要回来过年",
        "哈哈哈 {G}小时候最怕打针",
        "晚点我去接{G}",
        "{N}的车借我用两天行不行",
        "刚看到{N}在朋友圈晒娃",
        "昨天和{N}、{M}一起钓鱼，啥也没钓着",
        "这事别跟{N}讲啊",
        "{D}买好了，放在门口柜子里",
        "{K}又在说{D}的事，哎",
        "今天超市{D}打折，要不要带点",
        "{D}！{D2}！{M}快看群消息",
        "你们觉得{D}怎么样？我觉得还行",
        "{K}手机换号了：{PH}",
        "记下来：{PZ}，是{P}的新号，打不通就打{PH}",
        "到{A}了给我打电话，我在{P}这儿等你",
    ],
}


# The held-out split: written on 2026-12-07 by a helper that saw neither the recogniser nor its
# misses; never look at its misses to tune.
HELD_OUT = {
    "P": [
        "王磊",
        "李冬",
        "张蕾",
        "刘畅",
        "陈曦",
        "杨柳",
        "黄珊",
        "周燕",
        "吴昊",
        "徐峰",
        "孙丽",
        "马骏",
        "朱玲",
        "胡丹",
        "郭彬",
        "何亮",
        "高峰",
        "罗斌",
        "梁栋",
        "宋雨",
        "谢晶",
        "韩露",
        "唐敏",
        "邓辉",
        "瞿兰",
        "蔺军",
        "邝丽",
        "王凤兰",
        "李秀芝",
        "张德福",
        "刘桂珍",
        "陈永庆",
        "杨建英",
        "周国富",
        "吴兰芳",
        "孙秀荣",
        "黄福生",
        "赵海涛",
        "郭晓峰",
        "林丽娜",
        "胡建伟",
        "何小燕",
        "梁春华",
        "蒋文斌",
        "曹立新",
        "彭金花",
        "董俊峰",
        "李沐宸",
        "张可馨",
        "刘一航",
        "陈语桐",
        "杨浩轩",
        "徐若彤",
        "栾淑琴",
        "缪永刚",
        "隋春兰",
        "甄宇辰",
        "宓欣然",
        "夏侯明",
        "端木子琪",
    ],
    "T": ["钱奶奶", "胡大爷", "许医生", "唐老师", "韩姐", "戴哥", "朱婶", "夏主任", "石科长", "熊阿婆"],
    "G": ["美华", "金凤", "卫红", "晓丽", "永强", "秋月", "一凡", "梦琪", "嘉豪", "诗雨"],
    "N": ["老郭", "小何", "阿珍", "老梁", "小宋", "阿伟", "老唐", "小蒋"],
    "K": ["老妈", "二姨", "姨夫", "大姑", "三叔", "堂妹", "表弟", "侄女", "妹夫", "亲家母"],
    "D": [
        "王牌",
        "张罗",
        "陈醋",
        "杨桃",
        "黄油",
        "周边",
        "马甲",
        "胡闹",
        "何必",
        "高温",
        "韩剧",
        "金针菇",
        "白粥",
        "夏至",
        "许愿",
        "程度",
        "苏打",
        "林荫",
        "江米",
        "常温",
        "毛豆",
        "丁香",
        "好嘞",
        "行吧",
        "没事",
        "饺子",
        "大雾",
        "菜场",
        "降温",
        "回头",
    ],
    "templates": [
        "{P}在不在群里？拉一下",
        "晚上我约了{P}打球，不回来吃了",
        "你上回说的那个{P}，后来怎么样了",
        "{K}，{P}托我带了两盒月饼给你",
        "份子钱我和{P}、{P2}凑一起了",
        "刚才那个语音是{P}吧？",
        "{P}的车还停在{A}那边，你明早过去开回来",
        "下礼拜谁去接机？我看就让{P}去吧",
        "发红包的是谁？哦，是{P}",
        "明天聚餐改地方了，联系人：{P}，电话{PH}",
        "{T}今天查房说恢复得挺好[强]",
        "你帮{K}在网上挂个{T}的号呗",
        "咱楼下的{T}又送菜来了，{M}下去拿一下",
        "替我给{T}拜个年哈",
        "{G}到家没？到了说一声",
        "周六是{G}生日，蛋糕订好了吗",
        "{K}刚问我，{G}是不是换工作了",
        "叫{G}别熬夜了，眼睛要紧",
        "{N}！你家的快递放我这了",
        "下午{N}开车过来，顺路把{K}带上",
        "我跟{N}在{A}吃火锅呢，你们来不来",
        "谁拉的群？好像是{N}",
        "{D}啊，昨天还说好好的",
        "{K}最近总念叨{D}，说了好几回了",
        "刚从菜场回来，买了点{D}，还有{D2}",
        "唉，{D}这种事谁也没办法",
        "{M} 看到回个话，{D}的事等你定",
        "{D}，我新换的号{PZ}，以后打这个",
        "{K}的新地址在{A}，快递别寄错了",
        "存一下：{PZ}，{P}的，有事找他",
    ],
}


@dataclass(frozen=True)
class Labelled:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, entity): PERSON, SPEAKER, PHONE, ADDRESS


SPLITS = ("dev", "dev2", "dev3", "dev4", "held_out")


def pools(split: str) -> dict[str, list[str]]:
    """A split's words by slot (P, T, G, N, K, D) and its templates."""
    dev = dict(P=OUTSIDERS, T=TITLED, G=GIVEN, N=NICKNAMES, K=KIN, D=DECOYS, templates=TEMPLATES)
    by_split = {
        "dev": dev,
        "dev2": {"N": NICKNAMES, **DEV2},
        "dev3": DEV3,
        "dev4": DEV4,
        "held_out": HELD_OUT,
    }
    if split not in by_split:
        raise ValueError(f"split {split!r}: one of {SPLITS}")
    return by_split[split]


def labelled_messages(seed: int = 0, per_template: int = 16, split: str = "dev") -> list[Labelled]:
    """Every template of the split filled `per_template` times with names, terms and values drawn
    at random."""
    rng = random.Random(seed)
    words = pools(split)
    slots = {"M": (MEMBERS, "SPEAKER"), "P": (words["P"], "PERSON"), "T": (words["T"], "PERSON"),
             "G": (words["G"], "PERSON"), "K": (words["K"], None), "D": (words["D"], None),
             "N": (words["N"], "PERSON"),
             "PH": (DIGIT_PHONES, "PHONE"), "PZ": (NUMERAL_PHONES, "PHONE"),
             "A": (ADDRESSES, "ADDRESS")}  # fmt: skip
    out = []
    for template in words["templates"]:
        for _ in range(per_template):
            text, spans, pos = "", [], 0
            used: dict[str, str] = {}
            while (start := template.find("{", pos)) >= 0:
                end = template.index("}", start)
                text += template[pos:start]
                slot = template[start + 1 : end]
                pool, entity = slots[slot.rstrip("0123456789")]
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
