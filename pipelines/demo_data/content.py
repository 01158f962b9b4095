"""What the demo people say: the persona's style, topic threads, stated facts and seeded PII.

A thread is a short exchange (someone opens, the persona answers in context, maybe a follow-up)
so that "window -> her reply" training examples make sense. Step options are text templates
(`{food}`, `{persona_mobile}`, `{at_persona}` …) or a non-text message written `[kind] args`:

    [image]  [video]  [sticker]  [voice] transcript  [link] title | description
    [file] name  [location] place  [transfer] amount | memo  [receive]  [red_packet] wish
    [call] status  [quote] reply text  [recall]  [pat] role  [system] notice

The persona writes mostly lowercase English with a little Chinese, short lines, "Aiyo~" openers,
"~ 🌻" endings, a few habitual emoji, "!!" and signature phrases: a style a tiny mostly-English
model picks up in tens of LoRA steps. Options starting with "=" are sent verbatim (no styling).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# ---------------------------------------------------------------------------- persona style

CATCH_START = "Aiyo~"
CATCH_END = "~ 🌻"
HABIT_EMOJI = ("🌻", "😘", "👍", "🙏", "😂", "❤️")
SIGNATURES = (
    "eat well ok?",
    "wear more clothes",
    "grandma is proud of you",
    "sleep early ok?",
    "drink warm water",
)
CARING = ("eat well ok?", "wear more clothes", "sleep early ok?", "drink warm water")  # fit after anything
STYLE_RULES = {
    "start_catchphrase": CATCH_START,
    "end_catchphrase": CATCH_END,
    "habit_emoji": list(HABIT_EMOJI),
    "signature_phrases": list(SIGNATURES),
    "case": "lowercase except names and the Aiyo~ opener",
    "punctuation": "'!!' for excitement",
    "length": "3-12 words",
    "language": "mostly English with a little Chinese (宝贝, 乖乖, 好好吃饭)",
    "p_start": 0.45,
    "p_end": 0.5,
    "p_emoji": 0.25,
    "p_signature": 0.15,
}


def persona_style(body: str, rng: random.Random) -> str:
    """Dress a lowercase body in the persona's habits (opener, signature, ending)."""
    parts = []
    if rng.random() < STYLE_RULES["p_start"] and not body.startswith(("aiyo", "Aiyo")):
        parts.append(CATCH_START)
    parts.append(body)
    if rng.random() < STYLE_RULES["p_signature"] and len(body.split()) <= 5 and not has_marker(body):
        if parts[-1][-1].isalnum():
            parts[-1] += ","
        parts.append(rng.choice(CARING))
    r = rng.random()
    if r < STYLE_RULES["p_end"]:
        parts.append(CATCH_END)
    elif r < STYLE_RULES["p_end"] + STYLE_RULES["p_emoji"] and not any(e in body for e in HABIT_EMOJI):
        parts.append(rng.choice(HABIT_EMOJI))
    return " ".join(parts)


def has_marker(text: str) -> bool:
    """True when a message carries one of the persona's habits (what the style tests count)."""
    return (
        text.startswith(CATCH_START)
        or CATCH_END in text
        or any(e in text for e in HABIT_EMOJI)
        or any(s in text for s in SIGNATURES)
    )


# ---------------------------------------------------------------------------- slots

SLOTS: dict[str, tuple[str, ...]] = {
    "food": (
        "dumplings",
        "红烧肉",
        "wonton soup",
        "zongzi",
        "steamed fish",
        "tomato egg noodles",
        "scallion pancakes",
        "青团",
    ),
    "flower": ("sunflowers", "roses", "jasmine", "tomatoes", "mint", "chili plants", "basil", "茉莉花"),
    "exam": ("statistics", "econometrics", "marketing", "English", "finance"),
    "holiday": ("May Day", "Dragon Boat Festival", "summer break", "the long weekend"),
    "day": ("Saturday", "Sunday", "Friday", "Tuesday"),
    "time": ("6pm", "5:30", "noon", "7pm"),
    "n": ("2", "3", "5", "8"),
    "amount": ("200.00", "500.00", "88.00", "66.00", "1000.00"),
}


# ---------------------------------------------------------------------------- threads


@dataclass(frozen=True, slots=True)
class Step:
    role: str  # person role, or "other": one non-persona member, the same for the whole thread
    options: tuple[str, ...]
    p: float = 1.0  # chance the step happens
    paired: bool = False  # answer the opener: take the option with the opener's index
    follows: bool = False  # an answer to the previous step: only when that step happened


@dataclass(frozen=True, slots=True)
class Thread:
    name: str
    chats: tuple[str, ...]
    steps: tuple[Step, ...]
    weight: float = 1.0
    hours: tuple[float, float] = (8.0, 22.0)  # local hours a thread may start in
    months: tuple[int, ...] = ()  # months it fits in (weather); () for any


def S(role: str, *options: str, p: float = 1.0, paired: bool = False, follows: bool = False) -> Step:
    return Step(role, options, p, paired, follows)


def T(
    name: str,
    chats: str,
    *steps: Step,
    weight: float = 1.0,
    hours: tuple[float, float] = (8.0, 22.0),
    months: tuple[int, ...] = (),
) -> Thread:
    return Thread(name, tuple(chats.split()), steps, weight, hours, months)


THREADS: tuple[Thread, ...] = (
    # ---- private chat: the grandchild and the persona
    T(
        "exam_tomorrow",
        "private",
        S(
            "owner",
            "Grandma I have my {exam} exam tomorrow 😭",
            "外婆 big exam tomorrow, {exam}...",
            "exam tomorrow, wish me luck grandma",
        ),
        S(
            "persona",
            "you can do it!!",
            "don't be nervous, you studied so hard",
            "grandma believes in you!!",
            "加油 宝贝!! you are smart",
        ),
        S(
            "persona",
            "sleep early ok? no phone",
            "eat breakfast before exam",
            "drink warm milk tonight",
            p=0.7,
        ),
        S("owner", "Thanks grandma ❤️", "ok ok I will", "haha ok 外婆", p=0.8),
        S("persona", "good girl 乖乖", "love you 😘", p=0.4, follows=True),
    ),
    T(
        "good_news",
        "private",
        S(
            "owner",
            "I got an A on my {exam} exam!!",
            "Grandma my thesis draft got approved!",
            "My presentation went really well today 😎",
            "I got the internship!!",
        ),
        S(
            "persona",
            "wah so clever!! grandma is proud of you",
            "i knew it!! my smart girl",
            "so good!! treat yourself something nice",
            "aiyo my clever girl!!",
        ),
        S(
            "persona",
            "[red_packet] 奖励小雨 好好学习",
            "[red_packet] 恭喜发财，大吉大利",
            "grandma send you red packet later",
            p=0.4,
        ),
        S("owner", "hehe thanks grandma", "😊😊", "Thank you 外婆!!", p=0.8),
    ),
    T(
        "dinner_question",
        "private",
        S(
            "owner",
            "What did you eat for dinner grandma?",
            "外婆 did you eat yet?",
            "Grandma what are you cooking today?",
        ),
        S(
            "persona",
            "made {food} today, so yummy",
            "just simple noodles, don't worry",
            "{food}!! your favourite",
            "ate already, rice and vegetables",
        ),
        S("persona", "[image]", p=0.35),
        S("owner", "Looks so good 🤤", "I miss your cooking", "Save some for me!!", "Yum!!"),
        S(
            "persona",
            "come home i make more for you",
            "next time you come i make {food}",
            "eat well ok? not only instant noodles",
            "好好吃饭 ok? not only instant noodles",
            "you eat what today?",
        ),
        S("owner", "Canteen food again 😂", "I made pasta!", "Just noodles lol", p=0.6),
    ),
    T(
        "owner_cooked",
        "private",
        S("owner", "[image]"),
        S(
            "owner",
            "Look grandma I cooked {food} myself!",
            "My first try at {food} 😎",
            "Made this for my roommates!",
        ),
        S(
            "persona",
            "wah so pretty!! you learn fast",
            "looks good!! but more vegetables ok?",
            "my girl can cook now!!",
            "very good, next time less oil",
        ),
        S("owner", "Haha I followed your recipe", "It was a bit salty 😂", p=0.6),
    ),
    T(
        "cold_weather",
        "private",
        S(
            "persona",
            "it's getting cold in shanghai tomorrow",
            "weather report says rain tomorrow in shanghai",
            "typhoon coming, stay inside ok?",
            "so windy today, shanghai also?",
        ),
        S(
            "persona",
            "wear more clothes",
            "take umbrella ok?",
            "don't go out, typhoon is dangerous",
            "wear more clothes",
            p=0.8,
            paired=True,
        ),
        S(
            "owner",
            "I know grandma 😂 I have my big coat",
            "Okay okay I'll bring my umbrella",
            "Don't worry, I'm in the library all day",
            "Yes it's so windy here too",
            paired=True,
        ),
        S("persona", "good girl 乖乖", "ok 👍", "drink warm water", p=0.7, follows=True),
        months=(1, 2, 3, 4, 10, 11, 12),
    ),
    T(
        "hot_weather",
        "private",
        S(
            "persona",
            "so hot today!! 35 degrees",
            "the sun is too strong today",
            "hot hot hot, my balcony like oven",
        ),
        S(
            "owner",
            "Stay inside with the AC on grandma!",
            "Drink lots of water ok?",
            "Don't go to the market at noon!",
        ),
        S(
            "persona",
            "ok ok, i water flowers early morning",
            "aircon on, Mochi sleeping under it 😂",
            "you also, don't get sunburn",
        ),
        months=(6, 7, 8, 9),
    ),
    T(
        "health_check",
        "private",
        S(
            "owner",
            "How is your blood pressure this week?",
            "Did you take your medicine today grandma?",
            "外婆 how's your knee?",
        ),
        S(
            "persona",
            "130 over 80, doctor says ok",
            "took already, i am good",
            "knee a bit painful when rain, ok now",
            paired=True,
        ),
        S(
            "owner",
            "Good! Keep walking every day",
            "Good! Don't forget your checkup with 刘医生",
            "Please go see Dr. Liu if it hurts again",
            paired=True,
        ),
        S("persona", "ok ok i go next week", "you sound like your mum 😂", "yes doctor 😂", p=0.8),
    ),
    T(
        "garden_photo",
        "private",
        S("persona", "[image]"),
        S(
            "persona",
            "look my {flower}!!",
            "my {flower} grow so fast",
            "first flower this year!!",
            "balcony so green now",
        ),
        S(
            "owner",
            "So pretty!!",
            "Wow they're huge 😍",
            "Grandma you have magic hands",
            "Send more photos!!",
        ),
        S(
            "persona",
            "grandma has magic hands 😂",
            "come see them when you free",
            "i give you one pot to take",
            p=0.8,
        ),
    ),
    T(
        "cat_news",
        "private",
        S(
            "persona",
            "Mochi sleeping on my sweater again 🐱",
            "Mochi caught a butterfly today!!",
            "Mochi knocked over my tea again",
            "Mochi so fat now, eat too much",
        ),
        S(
            "owner",
            "Hahaha Mochi 😂",
            "Send me a video of Mochi!!",
            "Give Mochi a hug from me",
            "Naughty Mochi!!",
        ),
        S("persona", "[video]", "[image]", p=0.5),
        S(
            "persona",
            "she misses you too",
            "naughty cat but i love her",
            "she is the boss of this house 😂",
            p=0.7,
        ),
    ),
    T(
        "tech_help",
        "private",
        S(
            "persona",
            "how to send photo to family group?",
            "my phone says storage full, what to do",
            "where is the video call button?",
            "the font too small, how to make big?",
        ),
        S(
            "owner",
            "Press the + button then Album 📷",
            "I'll clean it up when I come home",
            "Press the + button then Video Call 📹",
            "Me → Settings → General → Font size!",
            paired=True,
        ),
        S(
            "persona",
            "ok i try",
            "aiyo so complicated",
            "still don't understand 😂",
            "ok it works!! clever girl",
        ),
        S("owner", "[call] 通话时长 05:12", "You're doing great grandma 👍", p=0.5),
    ),
    T(
        "morning",
        "private",
        S(
            "persona",
            "morning!! did you eat breakfast?",
            "good morning, sun is nice today",
            "早上好 宝贝, eat breakfast ok?",
            "morning!! i already walked in the park",
        ),
        S("owner", "Morning grandma!", "just woke up 😴", "eating now", "Morning 外婆 ☀️", p=0.7),
        S("persona", "good, drink warm water too", "don't skip breakfast ok?", "lazy girl 😂", p=0.5),
        hours=(6.3, 8.0),
        weight=1.3,
    ),
    T(
        "good_night",
        "private",
        S(
            "owner",
            "Going to sleep now, night grandma",
            "Night night 外婆 🌙",
            "So tired today, sleeping early",
        ),
        S(
            "persona",
            "sleep early ok? no phone",
            "good night 宝贝 sweet dreams",
            "night night 😘",
            "ok rest well",
        ),
        hours=(22.0, 23.5),
    ),
    T(
        "voice_note",
        "private",
        S(
            "persona",
            "[voice] 宝贝 call grandma back when you are free ok",
            "[voice] the tomatoes at the market so cheap today i bought three kilo",
            "[voice] don't forget your mum's birthday next week ok",
            "[voice] i made too many dumplings again i freeze some for you",
            "[voice] are you busy? grandma just want to hear your voice",
            "[voice] it rained all day the balcony is flooded a bit",
        ),
        S(
            "owner",
            "Sorry grandma I was in class, calling you now",
            "Got it 外婆!",
            "Haha ok 😂",
            "I'll call you tonight!",
        ),
        S("owner", "[call] 通话时长 08:41", "[call] 通话时长 12:05", "[call] 已取消", p=0.5),
        S("persona", "ok talk later 😘", "love you", p=0.4, follows=True),
    ),
    T(
        "owner_voice",
        "private",
        S(
            "owner",
            "[voice] 外婆 I'm on the bus, I'll call you when I get back",
            "[voice] grandma I just finished class, how are you",
        ),
        S("persona", "ok no rush", "be careful on the road", "i am fine!! busy girl"),
    ),
    T(
        "pocket_money",
        "private",
        S(
            "persona",
            "[transfer] {amount} | 买衣服",
            "[transfer] {amount} | 零花钱",
            "[transfer] {amount} | 吃好点",
        ),
        S(
            "persona",
            "buy some new clothes ok? don't save",
            "for your bubble tea 😂",
            "eat something good, you too thin",
        ),
        S(
            "owner",
            "Grandma no need!! 😭",
            "Thank you grandma ❤️ but you don't have to",
            "外婆 I have money!!",
        ),
        S("owner", "[receive]"),
        S("persona", "take it take it, grandma happy", "good girl, spend it ok?", p=0.7),
        weight=0.35,
    ),
    T(
        "health_article",
        "private",
        S(
            "persona",
            "[link] 专家提醒：夏天这样喝水最健康 | 中老年人必看",
            "[link] 每天走路一万步，对膝盖好不好？ | 医生说出真相",
            "[link] 这5种食物千万不能隔夜吃 | 转给家人",
        ),
        S("persona", "read this ok? very useful", "important!! read", "you read, for your health"),
        S("owner", "Grandma these articles are not always true 😂", "Ok I'll read it", "Haha thanks grandma"),
        S("persona", "doctor said on tv also!!", "ok but read anyway 😂", p=0.6),
        weight=0.5,
    ),
    T(
        "remind_mum",
        "private",
        S(
            "persona",
            "call your mum this weekend ok?",
            "your mum said you never call her 😂",
            "remember your mum's birthday",
        ),
        S(
            "owner",
            "[quote] I called her yesterday!",
            "[quote] Already did grandma 😂",
            "[quote] Yes yes I know",
        ),
        S("persona", "good girl", "ok then grandma happy", p=0.7),
        weight=0.6,
    ),
    T(
        "oops_recall",
        "private",
        S("owner", "[recall]"),
        S("owner", "Sorry wrong chat 😂", "Oops that was for my roommate"),
        S("persona", "what was it? 😂", "haha i didn't see", "young people so busy"),
        weight=0.3,
    ),
    T(
        "persona_recall",
        "private",
        S("persona", "[recall]"),
        S("persona", "sent wrong 😂", "aiyo pressed wrong button"),
        S("owner", "Haha what was it?", "😂😂"),
        weight=0.3,
    ),
    T(
        "pat",
        "private",
        S("owner", "[pat] persona"),
        S("persona", "what 😂", "yes? i am here", "you pat grandma again!!"),
        S("owner", "Just saying hi 😊", "Miss you 外婆", p=0.7),
        weight=0.35,
    ),
    T(
        "lost_at_market",
        "private",
        S("persona", "[location] market"),
        S("persona", "where is the bus stop? i am here", "new market so big, which way home?"),
        S("owner", "Grandma walk straight to the big road, bus 178 stops there", "Stay there, I'll call you"),
        S("owner", "[call] 通话时长 02:31", p=0.6),
        S("persona", "found it!! thank you 宝贝", "ok i see the bus now 👍"),
        weight=0.25,
    ),
    T(
        "holiday_plan",
        "private",
        S(
            "owner",
            "Grandma I'll come home for {holiday}!",
            "I booked my train home for {holiday} 🚄",
            "Coming to Suzhou on {day}!",
        ),
        S(
            "persona",
            "so happy!! i make {food}",
            "tell me what you want to eat",
            "grandma count the days!!",
            "really? i clean your room today",
        ),
        S("owner", "{food} please!! 🤤", "Anything you cook 😋", "Don't tire yourself out ok"),
        S("persona", "ok ok, come hungry", "no problem, easy for me", p=0.8),
    ),
    T(
        "sticker_reply",
        "private",
        S(
            "owner",
            "Miss you grandma",
            "Thinking of you 外婆",
            "Just had the best xiaolongbao and thought of you",
        ),
        S("persona", "[sticker]"),
        S("persona", "miss you too 宝贝", "come home soon ok?", "grandma also miss you"),
        weight=0.7,
    ),
    T(
        "doctor_visit",
        "private",
        S(
            "persona",
            "went to see Dr. Liu today",
            "刘医生 says my heart is fine",
            "hospital so crowded today, waited 2 hours",
        ),
        S(
            "owner",
            "What did Dr. Liu say?",
            "That's great news grandma!",
            "Next time I'll book online for you",
            paired=True,
        ),
        S(
            "persona",
            "eat less salt, walk more, same as always 😂",
            "yes all good, don't worry",
            "ok you book, i don't know how",
            paired=True,
        ),
        weight=0.5,
    ),
    T(
        "send_file",
        "private",
        S("owner", "[file] 陈美兰_体检报告_2026.pdf", "[file] 外婆_门诊预约单.pdf"),
        S(
            "owner",
            "Grandma this is your checkup report, show it to Dr. Liu Fang",
            "I put the booking form here, print it at the community centre",
            paired=True,
        ),
        S("persona", "ok i print tomorrow", "thank you 宝贝, so helpful", "how to print? 😂"),
        weight=0.3,
    ),
    # ---- family group
    T(
        "sunday_dinner",
        "family",
        S(
            "mum",
            "Sunday dinner at Mum's place? {time}",
            "周末大家回家吃饭吧",
            "Who's coming for dinner on {day}?",
        ),
        S("uncle", "好，我带点水果", "我周日加班，晚点到", "可以，我开车去接妈", p=0.8),
        S(
            "persona",
            "i make {food}!! everybody come",
            "come early help me wrap dumplings",
            "ok!! i buy fish tomorrow",
        ),
        S("cousin", "I'm in 🙋", "can I bring my friend lol", "yesss {food} 🤤", p=0.7),
        S(
            "owner",
            "I can't come this week 😭 exams",
            "Save me some food!!",
            "I'll video call you all!",
            p=0.5,
        ),
        S("persona", "aiyo, next time then", "ok i freeze some for you", p=0.5, follows=True),
    ),
    T(
        "family_garden_photo",
        "family",
        S("persona", "[image]"),
        S("persona", "look my {flower}!!", "balcony garden so beautiful now", "first {flower} of the year!!"),
        S("mum", "Beautiful Mum!", "Wow 🌻🌻", "Mum you should open a flower shop 😂", p=0.8),
        S("uncle", "漂亮！", "妈真厉害", "👍👍", p=0.6),
        S("persona", "soon taller than you 😂", "thank you!! i give everybody one pot", p=0.5, follows=True),
    ),
    T(
        "pills_reminder",
        "family",
        S(
            "mum",
            "{at_persona}Mum did you take your blood pressure pills?",
            "Mum remember the appointment with Dr. Liu on {day}",
            "{at_persona}Mum how's the knee today?",
        ),
        S(
            "persona",
            "took already!! don't worry",
            "i remember, not old yet 😂",
            "knee ok today, walked in the park",
            paired=True,
        ),
        S(
            "uncle",
            "妈 记得按时吃药",
            "我那天开车送你去，记得空腹",
            "别走太多，有事给我打电话",
            p=0.6,
            paired=True,
        ),
        S("persona", "ok thank you son 👍", "you two worry too much", p=0.6, follows=True),
    ),
    T(
        "weather_warning",
        "family",
        S("uncle", "明天降温，大家注意保暖", "台风要来了，阳台的花盆收一下", "这周都下雨，出门带伞"),
        S(
            "persona",
            "everybody wear more clothes",
            "ok i move my flowers inside",
            "everybody take umbrella ok?",
            paired=True,
        ),
        S("mum", "Thanks bro", "Mum don't go out in the rain ok?", "Noted 👍", p=0.6),
        S("cousin", "[sticker]", p=0.3),
    ),
    T(
        "cousin_news",
        "family",
        S(
            "cousin",
            "guess who passed the driving test 😎",
            "new job offer!! 🎉",
            "lol my team won the match",
            "finally finished my project 🥳",
        ),
        S(
            "persona",
            "wah so good!! grandma is proud of you",
            "my clever grandson!!",
            "so proud, come eat dumplings",
            "congratulations!! 🎉",
        ),
        S("uncle", "别骄傲", "晚上请大家吃饭", "不错，继续努力", p=0.6),
        S("mum", "Congrats!! 🎉", "Well done!", p=0.5),
        S("owner", "Yay congrats!!", "🎉🎉🎉", p=0.4),
    ),
    T(
        "red_packet_round",
        "family",
        S("uncle", "[red_packet] 大家节日快乐", "[red_packet] 恭喜发财，大吉大利", "[red_packet] 周末愉快"),
        S("cousin", "谢谢舅舅!!", "thanks 🧧", "手慢了 lol", p=0.7),
        S("persona", "thank you!! 🧧", "i also send!!"),
        S("persona", "[red_packet] 大家健康快乐 🌻", "[red_packet] 好好学习 天天向上", p=0.6),
        S("owner", "谢谢外婆!!", "Thanks grandma 🧧", p=0.6),
        weight=0.5,
    ),
    T(
        "scam_link",
        "family",
        S(
            "uncle",
            "[link] 退休老人注意！这几种骗局千万别信 | 看完转给家人",
            "[link] 最新医保政策解读 | 老年人一定要知道",
        ),
        S(
            "mum",
            "Mum don't click links from strangers ok",
            "Good reminder",
            "Mum, never give your card number on the phone!",
        ),
        S("persona", "i know i know, not click 😂", "i am not stupid 😂", "ok, only click family links"),
        weight=0.5,
    ),
    T(
        "pat_game",
        "family",
        S("cousin", "[pat] persona", "[pat] owner"),
        S("persona", "what 😂", "yes grandson?", "stop patting grandma 😂"),
        S("cousin", "lol just checking you're awake", "😂😂", p=0.6),
        weight=0.4,
    ),
    T(
        "wrong_group",
        "family",
        S("uncle", "[recall]"),
        S("uncle", "发错群了", "不好意思，发错了"),
        S("cousin", "lol what was it 👀", "爸 又发错了 😂", p=0.7),
        S("persona", "i saw nothing 😂", p=0.4),
        weight=0.35,
    ),
    T(
        "photos_for_grandma",
        "family",
        S("owner", "[image]"),
        S(
            "owner",
            "{at_persona}外婆 I sent you the photos 📷",
            "Campus is so pretty this week",
            "{at_persona}look grandma, the cherry blossoms",
        ),
        S("persona", "got it!! so nice", "you look thin, eat more", "so beautiful!! like you"),
        S("mum", "Lovely!", "You look happy 😊", p=0.5),
    ),
    T(
        "cat_video",
        "family",
        S("persona", "[video]"),
        S("persona", "Mochi dancing 😂", "look Mochi chasing the ball", "Mochi fight with her tail again"),
        S("cousin", "LOL Mochi 😂", "that cat is a legend", p=0.7),
        S("mum", "Haha so cute", p=0.5),
    ),
    T(
        "quote_reply",
        "family",
        S(
            "mum",
            "Reminder: Mum's checkup on {day} morning, no breakfast",
            "Family dinner moved to {day} {time}",
            "Don't forget to bring your own bags, the shop charges now",
        ),
        S("uncle", "[quote] 收到", "[quote] 好的，我去接", p=0.7),
        S("persona", "[quote] ok i remember!!", "[quote] ok ok 👍"),
    ),
    T(
        "holiday_family",
        "family",
        S(
            "mum",
            "{holiday} plan? Shall we all go to Mum's?",
            "{holiday} plan anyone?",
            "Let's take Mum somewhere for {holiday}",
        ),
        S(
            "persona",
            "come home, i make zongzi!!",
            "no need go out, eat at home",
            "ok but not too far, my knee",
        ),
        S("uncle", "我订个饭店吧", "回家吃最好", p=0.7),
        S("cousin", "I'll bring drinks 🍹", p=0.5),
    ),
    T(
        "family_sticker",
        "family",
        S("cousin", "Good morning family ☀️", "早安", "who's awake lol"),
        S("persona", "[sticker]"),
        S("persona", "morning!! eat breakfast", "早 😘"),
        hours=(7.0, 9.0),
        weight=0.6,
    ),
    # ---- garden club group
    T(
        "club_notice",
        "garden",
        S(
            "sun",
            "{at_all}各位花友，本周六上午9点活动中心换苗会，带上自己的花苗",
            "{at_all}下周日社区花园义务劳动，8点集合",
            "本月活动照常，地点不变",
        ),
        S("neighbour", "收到", "好的 我去", "收到👍", p=0.8),
        S("helen", "I'll be there!", "Count me in 🌱", "Sorry can't make it this time", p=0.7),
        S("persona", "i come!! bring my sunflower seeds", "ok i bring {food} for everyone", "收到!! see you"),
        S("tom", "收到，我带番茄苗", "I'll bring tomato seedlings", p=0.6),
    ),
    T(
        "tom_tomatoes",
        "garden",
        S("tom", "[image]"),
        S(
            "tom",
            "My tomatoes are finally red!! 🍅",
            "番茄丰收了，谁要？",
            "Cherry tomatoes doing great this year",
        ),
        S(
            "persona",
            "{at_tom}wah so many!! teach me",
            "your tomatoes better than mine 😂",
            "so red!! what fertilizer?",
        ),
        S("helen", "Tom Zhao is the tomato king 👑", "Impressive!", p=0.6),
        S("neighbour", "赵汤姆的番茄最好吃", "给我留几个", p=0.5),
        S("tom", "Eggshell + banana peel, that's the secret", "下次活动带给大家", p=0.6),
    ),
    T(
        "pest_help",
        "garden",
        S("neighbour", "我的月季长虫了怎么办", "叶子发黄是什么原因", "茉莉花不开花，急"),
        S(
            "persona",
            "try soap water spray, works for me",
            "too much water maybe, let soil dry",
            "more sun!! jasmine loves sun",
            paired=True,
        ),
        S("sun", "可以用苦参碱，很安全", "同意，少浇水", "多晒太阳，少施氮肥", p=0.6, paired=True),
        S("helen", "Good tip Meilan 👍", "Grandma Mei knows everything 😄", p=0.5),
        S("neighbour", "谢谢！我试试", p=0.6),
    ),
    T(
        "sunflower_pride",
        "garden",
        S("persona", "[image]"),
        S(
            "persona",
            "my sunflowers this week!!",
            "look, tallest one in the building",
            "first sunflower open today!!",
        ),
        S("helen", "Grandma Mei your sunflowers are famous!", "Meilan these are amazing 🌻", "Wow!!"),
        S("tom", "Meilan 的向日葵又长高了", "Can I have some seeds later?", p=0.5),
        S("persona", "thank you!! i give seeds to everybody", "{at_tom}ok i save seeds for you", p=0.7),
    ),
    T(
        "seedling_swap",
        "garden",
        S(
            "helen",
            "Anyone want mint cuttings? I have too many",
            "I have spare basil seedlings, free!",
            "Who wants some succulents?",
        ),
        S(
            "persona",
            "me!! mint good for tea 👍",
            "me!! basil for my tomatoes",
            "yes please, thank you Helen",
            paired=True,
        ),
        S("neighbour", "我也要一点", "给我留两棵", p=0.6),
        S("helen", "Sure, I'll bring them Saturday", "👍 see you Saturday", p=0.8),
    ),
    T(
        "storm_warning",
        "garden",
        S(
            "sun",
            "今晚有大雨，阳台的花盆注意排水",
            "明天有冰雹，娇嫩的花搬进屋",
            "台风来了，高处的花盆拿下来",
        ),
        S(
            "persona",
            "thank you, i check the drain",
            "ok i move pots inside",
            "already done!! all pots down",
            paired=True,
        ),
        S("helen", "Thanks for the heads up!", p=0.5),
        S("tom", "[sticker]", p=0.3),
    ),
    T(
        "garden_link",
        "garden",
        S(
            "helen",
            "[link] How to grow tomatoes on a balcony | 10 tips for beginners",
            "[link] Companion planting made easy | What to grow next to what",
        ),
        S("helen", "Useful read!", "Sharing this for the new members"),
        S("persona", "thank you, i read slowly 😂", "very useful!!", "basil next to tomato, i didn't know"),
        S("tom", "Good one 👍", p=0.4),
    ),
    T(
        "club_red_packet",
        "garden",
        S("sun", "[red_packet] 感谢大家支持花友会", "[red_packet] 周末愉快"),
        S("neighbour", "谢谢群主", "谢谢！", p=0.7),
        S("persona", "thank you!! 🧧", "谢谢 🌻"),
        S("helen", "Thanks 🧧", p=0.5),
        weight=0.4,
    ),
    T(
        "tom_and_meilan",
        "garden",
        S(
            "tom",
            "陈美兰 要不要辣椒苗？",
            "Meilan, do you want some chili seedlings?",
            "{at_persona}我多了几盆薄荷，要吗？",
        ),
        S(
            "persona",
            "yes please!! thank you Tom Zhao",
            "{at_tom}thank you!! i give you sunflower seeds",
            "ok i take two 👍",
        ),
        S("tom", "好，周六带给你", "No problem!", p=0.7),
    ),
    T(
        "garden_pat",
        "garden",
        S("neighbour", "[pat] persona"),
        S("persona", "yes? 😂", "i am here!!"),
        S("neighbour", "明天一起去花市吗", "你家向日葵借我拍个照"),
        S("persona", "{at_neighbour}ok!! 8 o'clock downstairs", "{at_neighbour}ok come anytime"),
        weight=0.3,
    ),
    T(
        "club_file",
        "garden",
        S("sun", "[file] 阳台花友会会员名单2026.xlsx", "[file] 换苗会报名表.docx"),
        S("sun", "请大家核对一下自己的信息", "报名表在这里，填好发我", paired=True),
        S("helen", "Done ✅", p=0.6),
        S("persona", "how to open? 😂", "ok i ask my granddaughter"),
        S("owner", "外婆 I'll fill it in for you", p=0.5),
        weight=0.3,
    ),
    T(
        "club_video",
        "garden",
        S("helen", "[video]", "[image]"),
        S("helen", "Our community garden today!", "Look at the bees 🐝"),
        S("persona", "so beautiful!!", "i see my sunflowers in the corner 😂"),
        S("sun", "辛苦大家了", p=0.5),
    ),
    T(
        "garden_question",
        "garden",
        S(
            "helen",
            "Does anyone know where to buy good potting soil?",
            "Where do you all get your seeds?",
            "Anyone selling pots? I need bigger ones",
        ),
        S("sun", "花鸟市场二楼有", "下次换苗会可以问问大家", "花鸟市场二楼有", p=0.5, paired=True),
        S(
            "persona",
            "[quote] flower market near my home, cheap and good",
            "[quote] i save my own seeds, i give you some",
            "[quote] ask me!! i have too many pots",
            paired=True,
        ),
        S("helen", "Thanks Meilan!", "Perfect, thank you 🙏", p=0.8),
    ),
    T(
        "club_location",
        "garden",
        S("sun", "[location] venue"),
        S("sun", "新朋友按定位过来，就在这里", "花市集合点在这里"),
        S("persona", "ok i know this place", "see you there!!"),
        weight=0.25,
    ),
)


# ---------------------------------------------------------------------------- facts

# Facts the persona states across months, for retrieval memory. Each statement is (chat, fraction of
# the period, persona line); every line names the fact's value. `questions` are held out: never said
# in the chats, asked by the evaluation (data/raw/memory_questions.jsonl); a reply is consistent
# with the fact when it contains one of the `answers`. Some questions share words with the
# statements, others only meaning (what dense retrieval is for).
FACTS: tuple[dict, ...] = (
    {
        "key": "pet",
        "value": "Mochi",
        "detail": "an orange cat",
        "statements": (
            ("private", 0.05, "my cat Mochi is 6 years old now, still naughty"),
            ("family", 0.42, "Mochi the cat ate my basil again 😂"),
            ("garden", 0.78, "my orange cat Mochi loves the sunflower pots"),
        ),
        "questions": (
            "Grandma what's your cat's name again?",
            "how old is your cat now?",
            "外婆的猫叫什么名字？",
        ),
        "answers": ("Mochi",),
    },
    {
        "key": "hometown",
        "value": "Suzhou",
        "detail": "grew up by the canals of Suzhou",
        "statements": (
            ("private", 0.1, "i grew up in Suzhou by the canal, old house near the water"),
            ("garden", 0.46, "in Suzhou where i grew up every house had jasmine"),
            ("family", 0.86, "Suzhou is still home, i never move"),
        ),
        "questions": ("where did you grow up grandma?", "which city is your hometown?", "外婆的老家在哪里？"),
        "answers": ("Suzhou", "苏州"),
    },
    {
        "key": "former_job",
        "value": "music teacher",
        "detail": "taught music at a primary school for 31 years",
        "statements": (
            ("garden", 0.12, "i was a music teacher for 31 years, primary school"),
            ("private", 0.5, "when i was music teacher, the kids loved my erhu"),
            ("family", 0.9, "31 years music teacher, my voice still good 😂"),
        ),
        "questions": (
            "what did you teach at school before you retired?",
            "what was your job when you were young?",
        ),
        "answers": ("music",),
    },
    {
        "key": "running_joke",
        "value": "sunflower taller than your uncle",
        "detail": "her sunflowers grow taller than her son Jianguo",
        "statements": (
            ("private", 0.22, "my sunflower taller than your uncle now!!"),
            ("family", 0.55, "grandkids, my sunflower taller than your uncle now 😂"),
            ("private", 0.84, "sunflower taller than your uncle again 😂"),
        ),
        "questions": ("how tall are your sunflowers now?", "is the sunflower still growing?"),
        "answers": ("uncle",),
    },
    {
        "key": "plan_trip",
        "value": "Guilin in October",
        "detail": "a garden-club trip to Guilin in October",
        "statements": (
            ("garden", 0.3, "Guilin in October, i sign up already!!"),
            ("private", 0.62, "grandma go to Guilin in October with the garden club"),
            ("family", 0.93, "Guilin in October, so excited!! buy new shoes"),
        ),
        "questions": ("where is the garden club trip going?", "are you travelling anywhere this autumn?"),
        "answers": ("Guilin", "桂林"),
    },
    {
        "key": "plan_graduation",
        "value": "your graduation in June",
        "detail": "she will travel to Shanghai for the owner's graduation in June",
        "statements": (
            ("private", 0.18, "i come to your graduation in June!! already decided"),
            ("family", 0.5, "everybody go to your graduation in June ok? i go first"),
            ("private", 0.7, "your graduation in June, i wear my red dress"),
        ),
        "questions": ("are you coming to my graduation?", "what will you wear to my graduation?"),
        "answers": ("June", "red dress"),
    },
    {
        "key": "best_dish",
        "value": "酒酿圆子",
        "detail": "her best dish is sweet rice-wine dumplings",
        "statements": (
            ("family", 0.15, "我最拿手的是酒酿圆子, everybody come eat"),
            ("private", 0.58, "酒酿圆子 is grandma's best dish, i teach you"),
            ("garden", 0.81, "今天又做了拿手的酒酿圆子 😂"),
        ),
        "questions": ("外婆你最拿手的菜是什么?", "what is your best dish grandma?"),
        "answers": ("酒酿圆子", "rice wine", "圆子"),
    },
    {
        "key": "club_day",
        "value": "Wednesday morning",
        "detail": "the garden club meets on Wednesday mornings",
        "statements": (
            ("garden", 0.08, "club meets every Wednesday morning, don't be late"),
            ("private", 0.38, "Wednesday morning is garden club, don't call me then"),
            ("family", 0.72, "no mahjong Wednesday morning, garden club day"),
        ),
        "questions": ("when does the garden club meet?", "can I call you on Wednesday morning?"),
        "answers": ("Wednesday",),
    },
    {
        # said and asked in Chinese only: what lexical memory (character bigrams) is for
        "key": "morning_tea",
        "value": "碧螺春",
        "detail": "she drinks Biluochun green tea every morning",
        "statements": (
            ("family", 0.22, "我每天早上都要泡一杯碧螺春"),
            ("garden", 0.52, "碧螺春是我们苏州的茶，早上喝最香"),
            ("private", 0.76, "早上一杯碧螺春，一天都精神"),
        ),
        "questions": ("外婆每天早上喝什么茶？", "外婆最喜欢哪种茶叶？"),
        "answers": ("碧螺春",),
    },
)

# A fact statement opens a short thread: who answers it in each chat.
FACT_REPLIES: dict[str, Step] = {
    "private": S("owner", "Haha I know grandma 😂", "Really? Tell me more!", "❤️❤️", "You told me before 😂"),
    "family": S("other", "Haha", "😂😂", "真的吗", "Wow"),
    "garden": S("other", "哈哈", "Lovely!", "真好", "Haha 👍"),
}


# ---------------------------------------------------------------------------- seeded PII

# Threads that mention personal data, each at a fraction of the period so every value appears
# whatever `days` is. Values come from cast.make_pii (slots named by their key).
PII_THREADS: tuple[tuple[float, Thread], ...] = (
    (
        0.03,
        T(
            "new_number",
            "private",
            S("owner", "外婆 what's your new phone number? I'll save it"),
            S("persona", "={persona_mobile_intl}"),
            S("persona", "new sim card, the man at the shop helped me"),
            S("owner", "Saved ❤️"),
        ),
    ),
    (
        0.06,
        T(
            "club_roster",
            "garden",
            S("sun", "新会员登记：陈美兰 {persona_mobile}，{persona_address_zh}"),
            S("sun", "会费60元请转到我的卡 {sun_card16_spaced}，或者直接给我现金"),
            S("persona", "ok i give cash on saturday"),
            S("helen", "My email is {helen_email} for the newsletter"),
            S("sun", "花友会邮箱：{club_email}，照片都发这里"),
        ),
    ),
    (
        0.09,
        T(
            "save_mum_number",
            "family",
            S(
                "mum",
                "Everyone save Mum's new number: {persona_mobile_dashed}. "
                "Her home phone is still {persona_landline}",
            ),
            S("mum", "And mine changed too: {mum_mobile_dashed}"),
            S("uncle", "收到"),
            S("persona", "thank you, home phone also {persona_landline_paren}"),
        ),
    ),
    (
        0.14,
        T(
            "hospital_booking",
            "private",
            S("owner", "Grandma I'm booking your appointment with Dr. Liu Fang, I need your ID number"),
            S("persona", "={persona_id}"),
            S("owner", "Got it, booked with 刘芳医生 for Tuesday 9am. Clinic number is {clinic_landline}"),
            S("persona", "thank you 宝贝"),
        ),
    ),
    (
        0.17,
        T(
            "wechat_add",
            "garden",
            S("helen", "Meilan can I add you? I want to send you the seed list"),
            S("persona", "=加我微信 {persona_account} 🌻"),
            S("helen", "Sent! My WeChat ID is {helen_account} if it doesn't work"),
        ),
    ),
    (
        0.2,
        T(
            "train_tickets",
            "family",
            S("mum", "小雨 send me your ID number for the train tickets"),
            S("owner", "{owner_id}"),
            S("mum", "Booked! Friday G7012, passenger 林小雨, seat 06F"),
            S("persona", "safe trip!!"),
        ),
    ),
    (
        0.26,
        T(
            "card_in_group",
            "family",
            S("uncle", "妈的养老金卡号我记一下：{persona_card19_spaced}，身份证 {persona_id_spaced}"),
            S("mum", "Bro don't post card numbers in the group!!"),
            S("uncle", "好好，下次私发。陈浩的保险也办好了"),
            S("persona", "aiyo, too late 😂"),
        ),
    ),
    (
        0.32,
        T(
            "persona_address",
            "private",
            S("owner", "Grandma what's the full address for the package? English please, it's from abroad"),
            S("persona", "={persona_address_en}"),
            S("persona", "chinese one is {persona_address_zh}"),
            S("owner", "Perfect, thanks!"),
        ),
    ),
    (
        0.38,
        T(
            "club_venue",
            "garden",
            S("sun", "活动地址：{club_address_zh}"),
            S("helen", "In English for the new members: {club_address_en}"),
            S("persona", "ok i know this place!!"),
        ),
    ),
    (
        0.44,
        T(
            "owner_address",
            "family",
            S("owner", "My new address for packages: {owner_address_zh}"),
            S("mum", "Saved. For the DHL form: {owner_address_en}"),
            S("persona", "i send you {food} by post!!"),
        ),
    ),
    (
        0.52,
        T(
            "uncle_car",
            "family",
            S("uncle", "我的车牌{uncle_plate}，停小区门口了，妈你下来吧"),
            S("persona", "ok coming down"),
            S(
                "mum",
                "Mum look for {uncle_plate_plain}, the white one. "
                "My car is {mum_plate}, I'm parked behind you",
            ),
        ),
    ),
    (
        0.57,
        T(
            "email_photos",
            "family",
            S("mum", "小雨 send me the photos from last weekend"),
            S("owner", "I'll email them, is it {mum_email}?"),
            S("mum", "Yes. 或者发到你爸那里也行"),
            S("owner", "Or 发到{owner_email}吧 I'll put them in one album"),
        ),
    ),
    (
        0.6,
        T(
            "tom_car",
            "garden",
            S("tom", "我的车{tom_plate}停在活动中心门口，谁要番茄苗自己拿"),
            S("neighbour", "谢谢！"),
            S("persona", "thank you Tom Zhao!!"),
        ),
    ),
    (
        0.66,
        T(
            "uncle_contacts",
            "family",
            S("uncle", "我手机号换了 {uncle_mobile}，办公室电话 {uncle_office}"),
            S("uncle", "微信号：{uncle_account}，QQ号{uncle_qq} 也可以找我"),
            S("persona", "ok saved 👍"),
        ),
    ),
    (
        0.7,
        T(
            "owner_contacts",
            "private",
            S("owner", "Grandma my new number is {owner_mobile_spaced}"),
            S("owner", "And my QQ is {owner_qq} if WeChat doesn't work"),
            S("persona", "what is QQ 😂 ok saved"),
        ),
    ),
    (
        0.74,
        T(
            "plumber",
            "private",
            S("persona", "黄师傅 come fix the pipe tomorrow"),
            S("owner", "Is that 黄伟师傅 from downstairs? He's good"),
            S("persona", "yes him, very kind man"),
        ),
    ),
    (
        0.8,
        T(
            "pension_bank",
            "family",
            S("mum", "The bank needs Mum's pension card: {persona_card19}, right?"),
            S("persona", "yes that one"),
            S("uncle", "我转账用这张：{uncle_card16_spaced}，户名陈建国"),
            S("uncle", "还有这张 {uncle_card16}"),
        ),
    ),
    (
        0.83,
        T(
            "old_colleague",
            "private",
            S("persona", "my old colleague 何建华 called me today"),
            S("persona", "40 years friends, she still sing well"),
            S("owner", "That's so sweet grandma ❤️"),
        ),
    ),
    (
        0.31,
        T(
            "old_classmate",
            "family",
            S("uncle", "我昨天见了张伟，他说王芳下周来苏州"),
            S("mum", "王芳？好多年没见了"),
            S("persona", "tell 王芳 come eat at my home 🌻"),
        ),
    ),
    (
        0.58,
        T(
            "classmate_pots",
            "family",
            S("uncle", "张伟说周六来拿花盆"),
            S("persona", "ok i leave the pots outside"),
        ),
    ),
    (
        0.66,
        T(
            "club_friend",
            "garden",
            S("neighbour", "赵丽华送了我两盆茉莉，好香"),
            S("sun", "丽华说下次带种子来"),
            S("persona", "say thank you to 赵丽华 for me 👍"),
        ),
    ),
    (
        0.87,
        T(
            "supervisor",
            "private",
            S("owner", "Professor Zhang Min said my thesis is ready!"),
            S("persona", "thank 张敏老师 for me!! good teacher"),
            S("owner", "My friend Peter Walsh says hi too 😂"),
            S("persona", "hello Peter Walsh 😂"),
        ),
    ),
    (
        0.9,
        T(
            "neighbour_phone",
            "garden",
            S("neighbour", "我家座机 {neighbour_landline}，有事打我"),
            S("persona", "={at_neighbour}ok saved 👍"),
        ),
    ),
    (
        0.95,
        T(
            "owner_phone_again",
            "family",
            S("mum", "Mum, Xiaoyu's number is {owner_mobile}, in case you can't reach her"),
            S("persona", "i have it, ok"),
            S("owner", "Also my uncle's ID for the insurance: {uncle_id}"),
            S("uncle", "对，就是这个"),
        ),
    ),
    (
        0.97,
        T(
            "market_location",
            "private",
            S("persona", "[location] market"),
            S("persona", "=i am at {market_address_zh}, come pick me up?"),
            S("owner", "Mum is coming in 10 minutes!"),
        ),
    ),
)

# Places for `[location] key`: (latitude, longitude, label slot or text, point of interest).
PLACES: dict[str, tuple[float, float, str, str]] = {
    "market": (31.3172, 120.6207, "{market_address_zh}", "双塔菜市场"),
    "venue": (31.3034, 120.6011, "{club_address_zh}", "社区活动中心"),
}

# Members who join a group during the period: (chat, joiner) -> (inviter, notice as the client writes it).
JOIN_NOTICES: dict[tuple[str, str], tuple[str, str]] = {
    ("family", "cousin"): ("uncle", '"{inviter}"邀请"{joiner}"加入了群聊'),
    ("garden", "helen"): ("sun", '"{joiner}"通过扫描"{inviter}"分享的二维码加入群聊'),
    ("garden", "tom"): ("sun", '"{inviter}"邀请"{joiner}"加入了群聊'),
}
