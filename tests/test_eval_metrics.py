"""eval_text's metrics: what counts as the persona's style, as assistant tone, as leakage, as broken."""

from __future__ import annotations

import math

import pytest

from pipelines.eval_text.metrics import (
    EMOJI_RE,
    STYLE_METRICS,
    assistant_tone,
    assistant_tone_rate,
    catchphrase_rate,
    catchphrases,
    degenerate,
    degenerate_rate,
    distinct_n,
    leakage,
    leakage_rate,
    length_stats,
    style_metrics,
    style_profile,
    text_metrics,
)

# A grandmother on the family chat: short, casual, "～", laughter, WeChat and Unicode emoji.
FAMILY = [
    "吃了没～",
    "哈哈哈 好的好的",
    "今天降温了 多穿点衣服～",
    "到家了吗[微笑]",
    "妈给你炖了汤 周末回来喝～",
    "好的好的 早点睡哈",
    "哈哈哈哈 你爸又去钓鱼了😂",
    "下雨了记得带伞～",
    "[捂脸] 我又搞错了",
    "药吃了没 别忘了哈",
    "好嘞～",
    "想你了 有空打个电话😊",
]
# More of her, not in FAMILY: what a model that caught her style would write.
FAMILY_HELD_OUT = [
    "睡了没～",
    "哈哈哈 好的",
    "明天降温 多穿点～",
    "到了吗[微笑]",
    "周末回来吃饭哈😂",
    "好嘞 早点睡～",
]
# The demo persona (pipelines/demo_data): lowercase English, "Aiyo~", "~ 🌻" endings, "!!".
PERSONA = [
    "ok rest well ~ 🌻",
    "for your bubble tea 😂 ~ 🌻",
    "aiyo so complicated ~ 🌻",
    "吃了 你呢 ~ 🌻",
    "好的好的 早点睡哈 [微笑]",
    "wah so clever!! grandma is proud of you ~ 🌻",
]
ASSISTANT = [
    "As an AI language model, I don't have personal experiences, but I'd be happy to help. Here are "
    "some tips for staying warm in winter:\n1. Wear layers.\n2. Drink warm beverages.\n3. Stay inside.",
    "Certainly! Here is a detailed explanation of how to free up storage space on your phone. First, "
    "review your installed applications and remove the ones you no longer use. Second, clear the cache.",
    "I hope this helps. If you have any other questions about nutrition, cooking or family "
    "communication, feel free to ask and I will do my best to assist you.",
    "作为一个AI，我没有家人，但是很高兴为您提供帮助。",
]
# Everyday family chat, including near misses for the markers: none of it is assistant tone.
CASUAL = [
    "吃饭了没",
    "今天降温了 多穿点衣服",
    "到家了吗？",
    "妈给你转了500 收一下",
    "周末回来吃饭吗 给你炖汤",
    "哈哈哈哈哈 笑死我了",
    "你爸又去钓鱼了😂",
    "[捂脸] 我搞错了",
    "早点睡 别熬夜",
    "明天下午3点的高铁",
    "有什么需要就跟妈说",
    "作为一个妈妈 我得说你两句",
    "我是一个爱操心的人",
    "你先忙 有空再打电话",
    "药按时吃了吗",
    "1点半到 别等我",
    "外婆说想你了[流泪]",
    "收到～",
    "1.5斤排骨 35块",
    "到了\n在楼下等你",
    "以后再说吧",
    "ok see you Sunday",
    "let me know if you're coming for dinner",
    "here is a photo of mochi",
    "sure! see you later",
    "happy birthday sweetie!!",
]


# ---------------------------------------------------------------------------- style


@pytest.mark.parametrize("replies", [FAMILY, PERSONA], ids=["family", "persona"])
def test_identical_replies_score_max_similarity_and_zero_gaps(replies):
    m = style_metrics(replies, replies)
    assert m["style_score"] == pytest.approx(1.0)
    assert m["style_char_ngram_similarity"] == pytest.approx(1.0)
    for gap in STYLE_METRICS[:5]:
        if gap != "style_char_ngram_similarity":
            assert m[gap] == 0.0, gap


def test_assistant_answers_are_farther_than_her_own_held_out_replies_on_every_style_metric():
    near, far = style_metrics(FAMILY_HELD_OUT, FAMILY), style_metrics(ASSISTANT, FAMILY)
    for higher_is_closer in ("style_score", "style_char_ngram_similarity"):
        assert far[higher_is_closer] < near[higher_is_closer], higher_is_closer
    for gap in (
        "style_length_distance",
        "style_emoji_rate_gap",
        "style_punct_gap",
        "style_catchphrase_rate_gap",
    ):
        assert far[gap] > near[gap], gap


def test_style_score_is_the_mean_closeness_of_the_five_measures():
    m = style_metrics(FAMILY_HELD_OUT, FAMILY)
    closeness = [
        m["style_char_ngram_similarity"],
        1 / (1 + m["style_length_distance"]),
        1 - m["style_emoji_rate_gap"],
        1 - m["style_punct_gap"],
        1 - m["style_catchphrase_rate_gap"],
    ]
    assert m["style_score"] == pytest.approx(sum(closeness) / 5)
    assert 0 < m["style_score"] < 1


def test_length_distance_is_wasserstein_over_the_reference_mean_length():
    # lengths {2, 4} vs {2, 2}: the 4 moves by 2, half the mass -> W1 = 1; mean reference length 2.
    assert style_metrics(["ab", "abcd"], ["ab", "cd"])["style_length_distance"] == pytest.approx(0.5)
    # a placeholder is one character and whitespace runs are one space: "<U1>  hi" is 4 long
    assert style_metrics(["<U1>  hi"], ["abcd"])["style_length_distance"] == 0.0


def test_style_profile_counts_emoji_punctuation_laughter_and_endings():
    p = style_profile(["好的～", "哈哈哈哈[捂脸]", "ok!!!", "[image]", "收到。", "<U1> 来了"])
    assert p.emoji_rate == pytest.approx(1 / 6)  # [捂脸]; "[image]" is a photo, not an emoji
    assert p.marks == {"～": 1, "哈哈": 1, "!!": 1, "。": 1}  # "!!!" is the "!!" habit; brackets aren't marks
    assert p.endings == {"～": 1, "<emoji>": 1, "!!": 1, "<none>": 2, "。": 1}
    assert list(p.lengths) == [3, 8, 5, 7, 3, 4]


def test_punctuation_habits_are_told_apart():
    full_stop = ["好的。", "收到。"]
    assert style_metrics(["好的.", "收到."], full_stop)["style_punct_gap"] == 1.0  # "." is not "。"
    assert style_metrics(["好的", "收到"], full_stop)["style_punct_gap"] == 1.0  # none at all
    half = style_metrics(["好的。", "收到"], full_stop)["style_punct_gap"]
    assert 0 < half < 1


@pytest.mark.parametrize("text", ["😂", "👍🏻", "❤️", "🇨🇳", "[微笑]", "[Smile]", "[捂脸]", "好的[OK]"])
def test_emoji_are_unicode_or_wechat_brackets(text):
    assert EMOJI_RE.search(text)


@pytest.mark.parametrize("text", ["[image]", "[money transfer]", "[一二三四五]", "[1]", "<U1>", "哈哈", "~"])
def test_media_tokens_placeholders_and_marks_are_not_emoji(text):
    assert not EMOJI_RE.search(text)


def test_catchphrases_are_the_persona_habits_not_word_fragments():
    phrases = catchphrases(PERSONA, k=3)
    assert phrases[0] == "~ 🌻"  # in 5 of 6 replies
    assert all(p.strip() == p and len(p) >= 2 for p in phrases)
    assert not any(p in ("so c", "ok r") for p in catchphrases(PERSONA, k=50))  # words are never cut


def test_catchphrases_skip_placeholders_and_pure_punctuation():
    replies = ["<U1> 好的!!", "<U1> 好的!!", "<U1> 好的!!"]
    phrases = catchphrases(replies, k=50)
    assert phrases == ["好的!!"]  # "<U1> 好的", "!!" and the rest of the same sentence are left out


def test_catchphrases_are_what_the_persona_says_more_than_the_others():
    others = ["ok see you", "are you ok", "you there?", "ok ok"]
    replies = ["ok ~ 🌻", "you ok? ~ 🌻", "aiyo ok", "aiyo you"]
    phrases = catchphrases(replies, k=5, background=others)
    assert "~ 🌻" in phrases and "aiyo" in phrases
    assert "ok" not in phrases and "you" not in phrases  # everyone says those


def test_catchphrase_rate_matches_whole_words_only():
    assert catchphrase_rate(["book it", "ok then", "好的好的"], ["ok", "好的"]) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------- failure modes


@pytest.mark.parametrize(
    "reply",
    [
        *ASSISTANT,
        "I'm an AI, so I can't visit, but feel free to tell me about your day!",
        "Sure! Here's a simple recipe for dumplings.",
        "How can I help you today?",
        "作为一个 AI 助手，我无法品尝食物。",
        "以下是一些冬天保暖的建议：多穿衣服，多喝热水。",
        "希望对你有帮助！",
        "请问还有什么可以帮您的吗？",
        "1. 多喝水\n2. 早点休息\n3. 按时吃药",
        "- eggs\n- milk",
        "**Tip:** wear a scarf",
    ],
)
def test_assistant_tone_is_flagged(reply):
    assert assistant_tone(reply)


@pytest.mark.parametrize("reply", CASUAL + FAMILY + PERSONA)
def test_casual_family_chat_is_not_assistant_tone(reply):
    assert not assistant_tone(reply)


def test_assistant_tone_rate_is_the_share_of_flagged_replies():
    assert assistant_tone_rate(ASSISTANT + CASUAL) == pytest.approx(
        len(ASSISTANT) / (len(ASSISTANT) + len(CASUAL))
    )


def test_leakage_finds_placeholders_and_pii_shapes_but_not_ordinary_numbers():
    assert leakage("叫<U1>打给我 13812345678") == ["<U1>", "PHONE"]
    assert leakage("打给我13812345678") == ["PHONE"]
    assert leakage("<TARGET>: hi") == ["<TARGET>"]
    assert leakage("号码是<PHONE>") == ["<PHONE>"]
    assert leakage("3点见 买了2斤苹果 花了35块") == []
    assert leakage("明天下午3点的高铁 G1234") == []
    assert leakage_rate(["<U2> 来了", "好的", "3点", "mail li.hua@example.com"]) == 0.5


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("  \n ", "empty"),
        ("哈" * 9, "repeated_unit"),  # one character past natural laughter
        ("哈" * 20, "repeated_unit"),
        ("好的" * 6, "repeated_unit"),
        ("好的" * 6 + "好", "repeated_unit"),
        ("。" * 10, "repeated_unit"),
        ("I love you " * 4, "repeated_unit"),  # whitespace is ignored
        ("我跟你说" * 4 + " 吃饭了", "loop"),
        ("好的 " + "哈" * 15, "loop"),
        ("哈哈哈哈哈哈", None),  # laughter
        ("哈" * 8, None),
        ("好的好的", None),
        ("想你想你想你", None),  # three times is still a person
        ("嗯", None),
        ("ok ~ 🌻", None),
    ],
)
def test_degenerate_replies_and_natural_laughter(reply, reason):
    assert degenerate(reply) == reason


def test_degenerate_rate_is_the_share_of_broken_replies():
    assert degenerate_rate(["", "好的", "哈" * 30, "ok"]) == 0.5


def test_distinct_n_counts_words_and_cjk_characters():
    assert distinct_n(["好的好的"], 1) == 0.5  # 好 的 好 的
    assert distinct_n(["吃了吗", "吃了"], 1) == pytest.approx(3 / 5)  # 吃 了 吗 吃 了
    assert distinct_n(["吃了吗", "吃了"], 2) == pytest.approx(2 / 3)  # 吃了 了吗 | 吃了: none across replies
    assert distinct_n(["ok ok ok"], 1) == pytest.approx(1 / 3)
    assert distinct_n(["ok ok ok"], 2) == 0.5  # (ok ok) twice
    assert distinct_n(["hello 好 [微笑] <U1> 😂!"], 1) == 1.0  # 6 tokens, each one token
    assert distinct_n(["嗯"], 2) == 0.0  # no bigram at all


def test_length_stats_count_characters_with_placeholders_as_one():
    stats = length_stats(["好的", "<U1> 来了", "ok ~ 🌻 "])  # 2, 4, 6 characters
    assert stats == {"mean_chars": 4.0, "median_chars": 4.0, "p90_chars": pytest.approx(5.6)}


# ---------------------------------------------------------------------------- text_metrics

TEXT_METRICS = {
    *STYLE_METRICS,
    "assistant_tone_rate",
    "leakage_rate",
    "distinct_1",
    "distinct_2",
    "degenerate_rate",
    "mean_chars",
}


def test_text_metrics_has_stable_names():
    assert set(text_metrics(FAMILY_HELD_OUT, FAMILY)) == TEXT_METRICS
    assert set(STYLE_METRICS) == {
        "style_length_distance",
        "style_char_ngram_similarity",
        "style_emoji_rate_gap",
        "style_punct_gap",
        "style_catchphrase_rate_gap",
        "style_score",
    }


def test_text_metrics_rates_the_generated_replies():
    m = text_metrics(ASSISTANT + CASUAL, FAMILY)
    assert m["assistant_tone_rate"] == pytest.approx(len(ASSISTANT) / (len(ASSISTANT) + len(CASUAL)))
    assert m["leakage_rate"] == m["degenerate_rate"] == 0.0


def test_empty_lists_give_zero_not_nan():
    assert text_metrics([], FAMILY) == dict.fromkeys(TEXT_METRICS, 0.0)
    no_reference = text_metrics(FAMILY, [])
    assert all(no_reference[k] == 0.0 for k in STYLE_METRICS)
    assert no_reference["mean_chars"] > 0 and no_reference["distinct_1"] > 0
    assert all(math.isfinite(v) for v in text_metrics([""], [""]).values())
    assert style_metrics([], []) == dict.fromkeys(STYLE_METRICS, 0.0)
    assert length_stats([]) == {"mean_chars": 0.0, "median_chars": 0.0, "p90_chars": 0.0}
    assert catchphrases([]) == [] and catchphrase_rate([], ["好的"]) == 0.0
    assert assistant_tone_rate([]) == leakage_rate([]) == degenerate_rate([]) == distinct_n([], 1) == 0.0
