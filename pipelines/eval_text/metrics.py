"""Text metrics for eval_text: how close generated replies are to the persona's real ones, and how
often they go wrong. Pure functions over lists of strings (no models).

Conventions: every rate, gap and similarity is in [0, 1]; over an empty list they are 0.0. Texts are
mixed Chinese/English WeChat replies with emoji and anonymization placeholders (`<U1>`, `<PHONE>`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from runtime.pii import find_pii

PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")
PLACEHOLDER_MARK = "\x00"  # one symbol per placeholder, so `<U1>` does not look like 4 characters
EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d\u3297\u3299\ufe0f]"
    r"|\[[\u4e00-\u9fff]{1,4}\]|\[[A-Za-z]{1,10}\]"  # WeChat's own emoji: [微笑], [Smile]
)
PUNCTUATION = set("~～!！?？。.,，、…;；:：\"“”'‘’()（）-—")
NO_FINAL_PUNCT = "<none>"  # the reply ends without punctuation (a habit worth matching)


# ---- tokens ----


def normalize(text: str) -> str:
    return PLACEHOLDER_RE.sub(PLACEHOLDER_MARK, " ".join(text.split()))


def tokens(text: str) -> list[str]:
    """Words for Latin text, single characters for CJK, one token per emoji or placeholder."""
    return re.findall(
        r"\[[\u4e00-\u9fff]{1,4}\]|\[[A-Za-z]{1,10}\]|<[A-Z][A-Z0-9_]*>|[A-Za-z0-9']+|[^\sA-Za-z0-9']", text
    )


def char_ngrams(text: str, n_max: int = 3) -> Counter:
    t = normalize(text)
    return Counter(t[i : i + n] for n in range(1, n_max + 1) for i in range(len(t) - n + 1))


def cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 0.0


def total_variation(p: Counter, q: Counter) -> float:
    """Half the L1 distance between two count profiles as distributions (0 same, 1 disjoint)."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 0.0 if sp == sq else 1.0
    return 0.5 * sum(abs(p[k] / sp - q[k] / sq) for k in set(p) | set(q))


# ---- style ----


def length_distance(generated: Sequence[str], reference: Sequence[str]) -> float:
    """1-D Wasserstein distance between the reply-length distributions (characters, placeholders
    as one), divided by the mean reference length and capped at 1. 0 = same lengths."""
    if not generated or not reference:
        return 0.0
    gen = np.array([len(normalize(t)) for t in generated], dtype=float)
    ref = np.array([len(normalize(t)) for t in reference], dtype=float)
    qs = np.linspace(0, 1, 101)
    w1 = float(np.mean(np.abs(np.quantile(gen, qs) - np.quantile(ref, qs))))
    return min(1.0, w1 / max(float(ref.mean()), 1.0))


def emoji_rate(texts: Sequence[str]) -> float:
    """Share of replies with at least one emoji."""
    return sum(bool(EMOJI_RE.search(t)) for t in texts) / len(texts) if texts else 0.0


def punct_profile(texts: Sequence[str]) -> Counter:
    """Punctuation used (each character), plus how replies end (with which mark, or none)."""
    profile: Counter = Counter()
    for t in texts:
        profile.update(c for c in t if c in PUNCTUATION)
        last = t.strip()[-1:] or NO_FINAL_PUNCT
        profile["end:" + (last if last in PUNCTUATION else NO_FINAL_PUNCT)] += 1
    return profile


def catchphrases(
    reference: Sequence[str], k: int = 20, min_replies: int = 2, background: Sequence[str] = ()
) -> list[str]:
    """The persona's habitual phrases: character 2–4-grams found in many reference replies (at least
    `min_replies`), ranked by how much more often the persona uses them than the `background` texts
    (what the other people in the chats write), so "you" or "ok" only count when they are the
    persona's own. Skips placeholders, punctuation-only grams and grams inside a longer chosen one
    that appears in as many replies."""
    df, bg = _phrase_counts(reference), _phrase_counts(background)

    def lift(g: str) -> float:
        return df[g] / len(reference) - (bg[g] / len(background) if background else 0.0)

    candidates = [g for g, c in df.items() if c >= min_replies and lift(g) > 0]
    chosen: list[str] = []
    for g in sorted(candidates, key=lambda g: (-lift(g), -len(g), g)):
        if not any(g in c and df[c] == df[g] for c in chosen):
            chosen.append(g)
        if len(chosen) == k:
            break
    return chosen


def _phrase_counts(texts: Sequence[str]) -> Counter:
    """In how many texts each phrase-like 2–4-character gram occurs."""
    df: Counter = Counter()
    for text in texts:
        t = normalize(text)
        cuts = [i for i in range(len(t) + 1) if _word_boundary(t, i)]
        df.update(g for g in {t[i:j] for i in cuts for j in cuts if 2 <= j - i <= 4} if _phrase_like(g))
    return df


def _word_boundary(text: str, i: int) -> bool:
    """Grams may cut anywhere in Chinese, but not inside a Latin word ("so c" is not a phrase)."""
    latin = str.isascii
    return not (
        0 < i < len(text)
        and latin(text[i - 1])
        and text[i - 1].isalnum()
        and latin(text[i])
        and text[i].isalnum()
    )


def _phrase_like(gram: str) -> bool:
    core = gram.strip()
    return (
        len(core) == len(gram)  # no leading/trailing space: "~ 🌻" yes, " ~" no
        and PLACEHOLDER_MARK not in gram
        and any(c not in PUNCTUATION and not c.isspace() for c in gram)
    )


def catchphrase_rate(texts: Sequence[str], phrases: Sequence[str]) -> float:
    """Share of replies containing at least one of `phrases`."""
    if not texts or not phrases:
        return 0.0
    return sum(any(p in normalize(t) for p in phrases) for t in texts) / len(texts)


STYLE_METRICS = (
    "style_length_distance",
    "style_char_ngram_similarity",
    "style_emoji_rate_gap",
    "style_punct_gap",
    "style_catchphrase_rate_gap",
    "style_score",
)


def style_metrics(
    generated: Sequence[str], reference: Sequence[str], background: Sequence[str] = ()
) -> dict[str, float]:
    """Closeness of the generated replies' style to the reference (the persona's real replies).
    `style_score` = mean of n-gram similarity and (1 - each distance/gap): 1 is indistinguishable.
    With nothing to compare (either list empty) every value is 0.0."""
    if not generated or not reference:
        return dict.fromkeys(STYLE_METRICS, 0.0)
    gen_grams, ref_grams = Counter(), Counter()
    for t in generated:
        gen_grams.update(char_ngrams(t))
    for t in reference:
        ref_grams.update(char_ngrams(t))
    phrases = catchphrases(reference, background=background)
    m = {
        "style_length_distance": length_distance(generated, reference),
        "style_char_ngram_similarity": cosine(gen_grams, ref_grams),
        "style_emoji_rate_gap": abs(emoji_rate(generated) - emoji_rate(reference)),
        "style_punct_gap": total_variation(punct_profile(generated), punct_profile(reference)),
        "style_catchphrase_rate_gap": abs(
            catchphrase_rate(generated, phrases) - catchphrase_rate(reference, phrases)
        ),
    }
    closeness = [m["style_char_ngram_similarity"]] + [
        1 - v for k, v in m.items() if k != "style_char_ngram_similarity"
    ]
    m["style_score"] = float(np.mean(closeness))
    return m


# ---- failure modes ----

# Phrases of a helpful AI assistant, not of a person chatting with family. Fine-tuning should remove
# them (the reference system's observation); lower-cased, matched as substrings.
ASSISTANT_MARKERS = (
    "作为一个ai", "作为一个人工智能", "作为ai", "我是一个ai", "我是一个人工智能", "我是人工智能",
    "语言模型", "有什么可以帮您", "有什么我可以帮", "有什么需要帮助", "很高兴为您", "为您提供",
    "请问还有", "希望对你有帮助", "希望对您有帮助", "以下是",
    "as an ai", "i'm an ai", "i am an ai", "language model", "ai assistant",
    "how can i help", "how can i assist", "happy to help", "glad to help", "feel free to", "certainly!",
    "sure! here", "here are some", "here is a", "i hope this helps", "let me know if",
)  # fmt: skip
LIST_ITEM_RE = re.compile(r"(?m)^\s*(?:\d+[.)、]|[-*•])\s+\S")


def assistant_tone(text: str) -> bool:
    """True for replies that sound like an AI assistant: its stock phrases, or a list of 2+ items."""
    lowered = text.lower()
    return any(m in lowered for m in ASSISTANT_MARKERS) or len(LIST_ITEM_RE.findall(text)) >= 2


def leakage(text: str) -> list[str]:
    """What a reply must never contain: anonymization placeholders (the model echoing its training
    format) and PII-shaped text (runtime/pii.py patterns). Returns the entity names found."""
    return [m.group(0) for m in PLACEHOLDER_RE.finditer(text)] + [s.entity for s in find_pii(text)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams over the replies (tokens: words, CJK characters, emoji)."""
    grams = [tuple(ts[i : i + n]) for ts in map(tokens, texts) for i in range(len(ts) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


LOOP_RE = re.compile(r"(.{4,}?)\1{2,}", re.S)  # a 4+ character piece three times in a row


def degenerate(text: str) -> str | None:
    """Why a reply is broken, or None: empty, one short unit repeated past natural laughter
    ("哈哈哈哈" is fine, twenty 哈 are not), or a phrase looping."""
    t = "".join(text.split())
    if not t:
        return "empty"
    for unit in range(1, 4):
        if len(t) > 8 and len(t) % unit == 0 and t == t[:unit] * (len(t) // unit):
            return "repeated_unit"
    if LOOP_RE.search(text):
        return "loop"
    return None


def rate(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def text_metrics(
    generated: Sequence[str], reference: Sequence[str], background: Sequence[str] = ()
) -> dict[str, float]:
    """Everything eval_text reports for one model, with stable names. `background`: other people's
    messages, to tell the persona's catchphrases from common words."""
    return {
        **style_metrics(generated, reference, background),
        "assistant_tone_rate": rate([assistant_tone(t) for t in generated]),
        "leakage_rate": rate([bool(leakage(t)) for t in generated]),
        "distinct_1": distinct_n(generated, 1),
        "distinct_2": distinct_n(generated, 2),
        "degenerate_rate": rate([degenerate(t) is not None for t in generated]),
        "mean_chars": float(np.mean([len(normalize(t)) for t in generated])) if generated else 0.0,
    }
