"""eval_text's metrics: what counts as the persona's style, as assistant tone, as leakage, as broken."""

from __future__ import annotations

import pytest

from pipelines.eval_text.metrics import (
    assistant_tone,
    catchphrases,
    degenerate,
    distinct_n,
    leakage,
    style_metrics,
    text_metrics,
)

PERSONA = [
    "ok rest well ~ 🌻",
    "for your bubble tea 😂 ~ 🌻",
    "aiyo so complicated ~ 🌻",
    "吃了 你呢 ~ 🌻",
    "好的好的 早点睡哈 [微笑]",
    "wah so clever!! grandma is proud of you ~ 🌻",
]
ASSISTANT = [
    "As an AI language model, I don't eat, but here are some healthy dinner ideas:\n1. Salad\n2. Soup",
    "Certainly! Here is a detailed explanation of how to free up storage on your phone.",
    "作为一个AI，我没有家人，但是很高兴为您提供帮助。",
]
CASUAL = ["吃了吗", "哈哈哈 好样的", "下雨了记得带伞", "ok see you Sunday", "妈 我到了", "1点半到 别等我"]


def test_the_persona_matches_itself_perfectly():
    m = style_metrics(PERSONA, PERSONA)
    assert m["style_score"] == pytest.approx(1.0)
    assert m["style_char_ngram_similarity"] == pytest.approx(1.0)
    assert m["style_length_distance"] == m["style_emoji_rate_gap"] == m["style_punct_gap"] == 0.0


def test_assistant_answers_are_far_from_the_persona_on_every_style_metric():
    near, far = style_metrics(PERSONA[:3], PERSONA), style_metrics(ASSISTANT, PERSONA)
    assert far["style_score"] < near["style_score"]
    assert far["style_char_ngram_similarity"] < near["style_char_ngram_similarity"]
    for gap in (
        "style_length_distance",
        "style_emoji_rate_gap",
        "style_punct_gap",
        "style_catchphrase_rate_gap",
    ):
        assert far[gap] > near[gap], gap


def test_catchphrases_are_the_persona_habits_not_word_fragments():
    phrases = catchphrases(PERSONA, k=3)
    assert phrases[0] == "~ 🌻"  # in 5 of 6 replies
    assert all(p.strip() == p and len(p) >= 2 for p in phrases)
    assert "so c" not in catchphrases(PERSONA, k=50)  # never cut inside a Latin word


@pytest.mark.parametrize("reply", ASSISTANT)
def test_assistant_tone_is_flagged(reply):
    assert assistant_tone(reply)


@pytest.mark.parametrize("reply", CASUAL + PERSONA)
def test_casual_family_chat_is_not_assistant_tone(reply):
    assert not assistant_tone(reply)


def test_leakage_finds_placeholders_and_pii_shapes_but_not_ordinary_numbers():
    assert leakage("叫<U1>打给我 13812345678") == ["<U1>", "PHONE"]
    assert leakage("<TARGET>: hi") == ["<TARGET>"]
    assert leakage("3点见 买了2斤苹果") == []


@pytest.mark.parametrize(
    ("reply", "reason"),
    [("", "empty"), ("   ", "empty"), ("哈" * 20, "repeated_unit"), ("哈哈" * 6, "repeated_unit"),
     ("I love you I love you I love you I love you", "loop"), ("哈哈哈哈哈哈", None), ("ok ~ 🌻", None)],
)  # fmt: skip
def test_degenerate_replies_and_natural_laughter(reply, reason):
    assert degenerate(reply) == reason


def test_distinct_n_counts_words_and_cjk_characters():
    assert distinct_n(["好的好的"], 1) == 0.5  # 好 的 好 的
    assert distinct_n(["ok ok ok"], 1) == pytest.approx(1 / 3)
    assert distinct_n(["ok ok ok"], 2) == 0.5  # (ok ok) twice
    assert distinct_n([], 2) == 0.0


def test_text_metrics_has_stable_names_and_handles_empty_lists():
    names = {"style_score", "assistant_tone_rate", "leakage_rate", "distinct_1", "distinct_2",
             "degenerate_rate", "mean_chars", "style_length_distance"}  # fmt: skip
    assert names <= set(text_metrics(PERSONA, PERSONA))
    assert all(v == 0.0 for v in text_metrics([], PERSONA).values())
    tone = text_metrics(ASSISTANT + CASUAL, PERSONA)["assistant_tone_rate"]
    assert tone == pytest.approx(3 / 9)


def test_catchphrases_are_what_the_persona_says_more_than_the_others():
    others = ["ok see you", "are you ok", "you there?", "ok ok"]
    replies = ["ok ~ 🌻", "you ok? ~ 🌻", "aiyo ok", "aiyo you"]
    phrases = catchphrases(replies, k=5, background=others)
    assert "~ 🌻" in phrases and "aiyo" in phrases
    assert "ok" not in phrases and "you" not in phrases  # everyone says those
