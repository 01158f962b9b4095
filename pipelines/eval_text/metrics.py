"""Text metrics for eval_text: how close generated replies are to the persona's real ones, and how
often they go wrong. Pure functions over lists of strings (standard library and numpy, no models).

Texts are mixed Chinese/English WeChat replies with emoji (Unicode and WeChat's `[微笑]`) and
anonymization placeholders (`<U1>`, `<TARGET>`, `<PHONE>`). `text_metrics` gives everything for one
model under stable names:

| name                          | range  | better | what                                                  |
|-------------------------------|--------|--------|-------------------------------------------------------|
| `style_length_distance`       | ≥ 0    | lower  | W1(reply lengths) / mean reference length             |
| `style_char_ngram_similarity` | [0, 1] | higher | mean over n = 1, 2, 3 of the char n-gram cosine       |
| `style_emoji_rate_gap`        | [0, 1] | lower  | abs. difference of the share of replies with an emoji |
| `style_punct_gap`             | [0, 1] | lower  | mean total variation of marks used and of endings     |
| `style_catchphrase_rate_gap`  | [0, 1] | lower  | abs. difference of the share with a catchphrase       |
| `style_score`                 | [0, 1] | higher | mean closeness of the five above (see `style_metrics`)|
| `assistant_tone_rate`, `leakage_rate`, `degenerate_rate` | [0, 1] | lower | share of replies  |
| `distinct_1`, `distinct_2`    | [0, 1] | higher | unique / all token n-grams                            |
| `mean_chars`                  | ≥ 0    |        | characters per reply                                  |

Empty input: every metric of an empty list (or compared against an empty list) is 0.0, never NaN,
so metrics.json stays plain JSON. Note that a gap of 0.0 then means "nothing to compare", and
`style_score` 0.0 is the worst score.

Characters are counted after collapsing whitespace runs to one space and each placeholder to one
symbol (`<U1>` is one name, not four characters).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from runtime.pii import find_pii
from runtime.prompt import KIND_TOKENS

# ---------------------------------------------------------------------------- tokens

# Any anonymization placeholder: <U1>, <TARGET>, <PHONE>, <ID_NUMBER> (runtime/pii.py, anonymize).
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")
PLACEHOLDER_MARK = "\x00"  # what a placeholder becomes in `normalize`: one character

# Non-text messages as the prompt writes them ("[image]", "[money transfer]"): shaped like WeChat
# emoji but not emoji, so they are one token and never count as an emoji.
_MEDIA = "|".join(re.escape(token) for token in sorted(set(KIND_TOKENS.values()), key=len, reverse=True))
# WeChat's own emoji as text: "[" + 1–4 CJK characters or up to 10 ASCII letters + "]".
_BRACKET_EMOJI = rf"(?!{_MEDIA})\[(?:[\u4e00-\u9fff]{{1,4}}|[A-Za-z]{{1,10}})\]"
# Unicode emoji: the pictograph planes, misc symbols and dingbats, a few stragglers (⌚ ⏰ ⭐ 〰 ㊗).
_EMOJI_CHAR = (
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u23e9-\u23fa\u3030\u303d\u3297\u3299]"
)
# One emoji as people see it: with skin tone or presentation selector, ZWJ sequences (👨‍👩‍👧), flags
# (two regional indicators) and keycaps (1️⃣).
_EMOJI_SEQ = (
    rf"[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3"
    rf"|{_EMOJI_CHAR}[\ufe0f\U0001f3fb-\U0001f3ff]*(?:\u200d{_EMOJI_CHAR}[\ufe0f\U0001f3fb-\U0001f3ff]*)*"
)
EMOJI_RE = re.compile(f"{_BRACKET_EMOJI}|{_EMOJI_SEQ}")
_LATIN_WORD = r"[A-Za-z0-9\u00c0-\u024f]+(?:['’][A-Za-z]+)*"  # don't, café, 2333
TOKEN_RE = re.compile(rf"{PLACEHOLDER_RE.pattern}|{_MEDIA}|{_BRACKET_EMOJI}|{_EMOJI_SEQ}|{_LATIN_WORD}|\S")


def normalize(text: str) -> str:
    """Whitespace runs as one space (ends stripped), each placeholder as one symbol."""
    return PLACEHOLDER_RE.sub(PLACEHOLDER_MARK, " ".join(text.split()))


def n_chars(text: str) -> int:
    return len(normalize(text))


def tokens(text: str) -> list[str]:
    """Latin words (with digits) whole; every other character alone (so CJK counts by character and
    punctuation marks count); an emoji, a WeChat `[微笑]`, a media token or a placeholder is one token."""
    return TOKEN_RE.findall(text)


def _is_mark(token: str) -> bool:
    """Punctuation or a symbol that is not an emoji: "。", "!", "~", "～", "…"."""
    return len(token) == 1 and unicodedata.category(token)[0] in "PS" and not EMOJI_RE.fullmatch(token)


# ---------------------------------------------------------------------------- distributions


def cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 0.0


def total_variation(p: Counter, q: Counter) -> float:
    """Half the L1 distance between two count profiles as distributions (0 same, 1 disjoint). Two
    empty profiles are the same; an empty and a non-empty one are disjoint."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 0.0 if sp == sq else 1.0
    return 0.5 * sum(abs(p[k] / sp - q[k] / sq) for k in set(p) | set(q))


def wasserstein_1d(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact 1-D Wasserstein-1 (earth mover's) distance between two samples' empirical
    distributions: the area between their CDFs."""
    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    xs = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(a, xs[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, xs[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(xs)))


def rate(flags: Iterable[bool]) -> float:
    """Share of true flags; 0.0 for none."""
    flags = list(flags)
    return sum(flags) / len(flags) if flags else 0.0


# ---------------------------------------------------------------------------- style

CHAR_NGRAM_ORDERS = (1, 2, 3)
CATCHPHRASE_TOKENS = (1, 4)  # a catchphrase is 1–4 tokens ("好的", "aiyo", "~ 🌻", "早点睡哈")…
CATCHPHRASE_MIN_CHARS = 2  # …of at least 2 characters (one CJK character or emoji is no phrase)

# Laughter does punctuation's job in chat and is as personal ("哈哈" / "hhh" / "233" / "lol"), so the
# punctuation profile counts it too, each family under one name.
_LAUGHTER = (
    ("哈哈", r"哈{2,}"),
    ("呵呵", r"呵{2,}"),
    ("嘿嘿", r"嘿{2,}"),
    ("嘻嘻", r"嘻{2,}"),
    ("233", r"(?<![0-9])23{3,}(?![0-9])"),  # "2333"; a bare "233" is as often a number
    ("haha", r"(?<![a-z])a?(?:ha){2,}h?(?![a-z])"),
    ("hehe", r"(?<![a-z])(?:he){2,}h?(?![a-z])"),
    ("hhh", r"(?<![a-z])h{2,}(?![a-z])"),
    ("lol", r"(?<![a-z])(?:lol|lmao)(?![a-z])"),
)
_LAUGH_NAMES = [name for name, _ in _LAUGHTER]
# A run of one mark is one use; doubled marks are their own habit ("!!" ≠ "!", "……" ≠ "…", but
# "!!!" = "!!"). Apostrophes and hyphens belong to words, not habits.
_MARK_RUN = r"(?P<ch>[^\w\s'’\-])(?P=ch)*"
MARK_RE = re.compile(
    "|".join(f"(?P<laugh{i}>{pattern})" for i, (_, pattern) in enumerate(_LAUGHTER))
    + f"|(?P<mark>{_MARK_RUN})",
    re.IGNORECASE,
)
_WORDLIKE_RE = re.compile(f"{PLACEHOLDER_RE.pattern}|{_MEDIA}|{_BRACKET_EMOJI}")
NO_END_MARK = "<none>"  # the reply ends in a word: no full stop (a habit worth matching)
EMOJI_END = "<emoji>"


def marks(text: str) -> list[tuple[str, int]]:
    """Punctuation runs and laughter in a reply, as (name, end offset): "!!!" -> "!!", "哈哈哈" -> "哈哈".
    Emoji are not marks (they have their own metric)."""
    # Brackets of "[微笑]" / "[image]" and "<U1>" are no punctuation: blank them out, offsets kept.
    view = _WORDLIKE_RE.sub(lambda m: "\x00" * len(m.group()), text)
    found = []
    for m in MARK_RE.finditer(view):
        if m.lastgroup != "mark":
            found.append((_LAUGH_NAMES[int(m.lastgroup.removeprefix("laugh"))], m.end()))
        elif _is_mark(m.group()[0]):
            found.append((m.group()[:2], m.end()))
    return found


def ending(text: str, found: Sequence[tuple[str, int]]) -> str:
    """How a reply ends: with a mark (its name), an emoji, or nothing."""
    t = text.rstrip()
    if found and found[-1][1] == len(t):
        return found[-1][0]
    last = list(EMOJI_RE.finditer(t))
    return EMOJI_END if last and last[-1].end() == len(t) else NO_END_MARK


def phrase_grams(text: str) -> frozenset[str]:
    """Phrase-like spans of a reply: 1–4 consecutive tokens (Latin words are never cut), at least 2
    characters, not only punctuation, no placeholder."""
    t = " ".join(text.split())
    spans = [(m.start(), m.end(), m.group()) for m in TOKEN_RE.finditer(t)]
    lo, hi = CATCHPHRASE_TOKENS
    grams = set()
    for i in range(len(spans)):
        for j in range(i + lo - 1, min(i + hi, len(spans))):
            window = spans[i : j + 1]
            if any(PLACEHOLDER_RE.fullmatch(tok) for _, _, tok in window):
                break  # longer windows from i contain it too
            gram = t[spans[i][0] : spans[j][1]]
            if len(gram) >= CATCHPHRASE_MIN_CHARS and not all(_is_mark(tok) for _, _, tok in window):
                grams.add(gram)
    return frozenset(grams)


@dataclass(frozen=True, eq=False)
class StyleProfile:
    """The measurable style of a set of replies; `style_metrics` compares two of these."""

    replies: int
    lengths: np.ndarray  # characters per reply (see `normalize`)
    char_ngrams: dict[int, Counter]  # n -> counts of character n-grams over all replies
    emoji_rate: float  # share of replies with at least one emoji
    marks: Counter  # punctuation runs and laughter over all replies (see `marks`)
    endings: Counter  # how replies end: a mark, <emoji> or <none>
    phrases: tuple[frozenset[str], ...]  # the phrase-like grams of each reply (for catchphrases)


def style_profile(texts: Sequence[str]) -> StyleProfile:
    """Everything style_metrics needs from one set of replies, in one pass."""
    grams: dict[int, Counter] = {n: Counter() for n in CHAR_NGRAM_ORDERS}
    used, ends = Counter(), Counter()
    for text in texts:
        t = normalize(text)
        for n in CHAR_NGRAM_ORDERS:
            grams[n].update(t[i : i + n] for i in range(len(t) - n + 1))
        found = marks(text)
        used.update(name for name, _ in found)
        ends[ending(text, found)] += 1
    return StyleProfile(
        replies=len(texts),
        lengths=np.array([n_chars(t) for t in texts], dtype=float),
        char_ngrams=grams,
        emoji_rate=rate(EMOJI_RE.search(t) is not None for t in texts),
        marks=used,
        endings=ends,
        phrases=tuple(phrase_grams(t) for t in texts),
    )


def _as_profile(texts: Sequence[str] | StyleProfile) -> StyleProfile:
    return texts if isinstance(texts, StyleProfile) else style_profile(texts)


def catchphrases(
    reference: Sequence[str] | StyleProfile,
    k: int = 20,
    min_replies: int = 2,
    background: Sequence[str] | StyleProfile = (),
) -> list[str]:
    """The persona's habitual phrases: grams (see `phrase_grams`) found in at least `min_replies`
    reference replies, ranked by the share of reference replies using them minus the share of
    `background` texts using them (what the other people in the chats write), so that "ok" or "你"
    only count when they are the persona's own. A gram found in exactly the same replies as one
    already chosen (a piece of the same recurring sentence) adds nothing and is skipped; among
    equals the longest is chosen."""
    ref, bg = _as_profile(reference), _as_profile(background)
    replies_with: dict[str, set[int]] = {}
    for i, grams in enumerate(ref.phrases):
        for g in grams:
            replies_with.setdefault(g, set()).add(i)
    bg_df = Counter(g for grams in bg.phrases for g in grams)

    def lift(g: str) -> float:
        return len(replies_with[g]) / ref.replies - (bg_df[g] / bg.replies if bg.replies else 0.0)

    candidates = [g for g, seen in replies_with.items() if len(seen) >= min_replies and lift(g) > 0]
    chosen: list[str] = []
    for g in sorted(candidates, key=lambda g: (-lift(g), -len(g), g)):
        if len(chosen) == k:
            break
        if all(replies_with[g] != replies_with[c] for c in chosen):
            chosen.append(g)
    return chosen


def catchphrase_rate(texts: Sequence[str] | StyleProfile, phrases: Sequence[str]) -> float:
    """Share of replies containing at least one of `phrases` as a whole gram ("ok" is not in "book")."""
    wanted = set(phrases)
    return rate(not wanted.isdisjoint(grams) for grams in _as_profile(texts).phrases) if wanted else 0.0


def length_distance(generated: StyleProfile, reference: StyleProfile) -> float:
    """W1 distance between the reply-length distributions divided by the mean reference length:
    0 = same distribution, 1 = off by a whole typical reply. Not capped (a base model writing
    essays is 10+)."""
    return wasserstein_1d(generated.lengths, reference.lengths) / max(float(reference.lengths.mean()), 1.0)


def char_ngram_similarity(generated: StyleProfile, reference: StyleProfile) -> float:
    """Cosine similarity of the character n-gram count profiles, averaged over n = 1, 2, 3: one order
    at a time, so that the many shared single characters do not drown out the 2- and 3-grams."""
    return float(
        np.mean([cosine(generated.char_ngrams[n], reference.char_ngrams[n]) for n in CHAR_NGRAM_ORDERS])
    )


def punct_gap(generated: StyleProfile, reference: StyleProfile) -> float:
    """Mean of the total variation distances between the mark profiles (which punctuation and
    laughter, `marks`) and between the ending profiles (how replies end: "。", "~", emoji, nothing)."""
    return 0.5 * (
        total_variation(generated.marks, reference.marks)
        + total_variation(generated.endings, reference.endings)
    )


STYLE_METRICS = (
    "style_length_distance",
    "style_char_ngram_similarity",
    "style_emoji_rate_gap",
    "style_punct_gap",
    "style_catchphrase_rate_gap",
    "style_score",
)


def style_metrics(
    generated: Sequence[str] | StyleProfile,
    reference: Sequence[str] | StyleProfile,
    background: Sequence[str] | StyleProfile = (),
) -> dict[str, float]:
    """How close the generated replies' style is to the reference (the persona's real replies).
    `background`: the other chat members' messages, to pick the persona's own catchphrases.

    style_score = mean(char_ngram_similarity, 1 / (1 + length_distance), 1 - emoji_rate_gap,
    1 - punct_gap, 1 - catchphrase_rate_gap): 1 when indistinguishable by these measures.
    With nothing to compare (either set empty) every value is 0.0."""
    gen, ref = _as_profile(generated), _as_profile(reference)
    if not gen.replies or not ref.replies:
        return dict.fromkeys(STYLE_METRICS, 0.0)
    phrases = catchphrases(ref, background=background)
    m = {
        "style_length_distance": length_distance(gen, ref),
        "style_char_ngram_similarity": char_ngram_similarity(gen, ref),
        "style_emoji_rate_gap": abs(gen.emoji_rate - ref.emoji_rate),
        "style_punct_gap": punct_gap(gen, ref),
        "style_catchphrase_rate_gap": abs(catchphrase_rate(gen, phrases) - catchphrase_rate(ref, phrases)),
    }
    closeness = (
        m["style_char_ngram_similarity"],
        1 / (1 + m["style_length_distance"]),
        1 - m["style_emoji_rate_gap"],
        1 - m["style_punct_gap"],
        1 - m["style_catchphrase_rate_gap"],
    )
    m["style_score"] = float(np.mean(closeness))
    return m


# ---------------------------------------------------------------------------- failure modes

# Stock phrases of a helpful AI assistant, never of a person chatting with family: fine-tuning should
# make them disappear. Lower-case substrings; a marker with a space is matched against the reply with
# whitespace collapsed, one without against the reply with whitespace removed ("作为一个 AI").
# Left out on purpose, being everyday chat too: "let me know if", "here is a", "有什么需要".
ASSISTANT_MARKERS = (
    "作为一个ai", "作为一名ai", "作为ai", "作为一个人工智能", "作为人工智能", "我是一个ai",
    "我是一个人工智能", "我是人工智能", "ai助手", "人工智能助手", "语言模型", "有什么可以帮您",
    "有什么我可以帮", "很高兴为您", "为您提供", "请问还有", "还有什么可以帮", "希望对你有帮助",
    "希望对您有帮助", "希望这些建议", "以下是",
    "as an ai", "i'm an ai", "i am an ai", "i'm just an ai", "language model", "ai assistant",
    "virtual assistant", "how can i help", "how can i assist", "how may i assist", "i'd be happy to help",
    "i would be happy to help", "feel free to", "certainly!", "sure! here", "i hope this helps",
    "if you have any other questions", "let me know if you have any", "great question",
)  # fmt: skip
# Assistant formatting: a numbered or bulleted list (counted per item; "1.5斤" is no item) and
# markdown emphasis or headings, which nobody types in WeChat.
LIST_ITEM_RE = re.compile(r"^[ \t]*(?:[0-9]{1,2}(?:[.)．）](?![0-9])|、)[ \t]*|[-*•·][ \t]+)\S", re.M)
MARKDOWN_RE = re.compile(r"\*\*[^*\n]+\*\*|^#{1,6} \S", re.M)


def assistant_tone(text: str) -> bool:
    """True for a reply that sounds like an AI assistant: a stock phrase (`ASSISTANT_MARKERS`,
    case-insensitive), a list of 2+ items, or markdown."""
    lowered = text.lower().replace("’", "'")
    collapsed, bare = " ".join(lowered.split()), "".join(lowered.split())
    return (
        any(m in (collapsed if " " in m else bare) for m in ASSISTANT_MARKERS)
        or len(LIST_ITEM_RE.findall(text)) >= 2
        or MARKDOWN_RE.search(text) is not None
    )


def assistant_tone_rate(texts: Sequence[str]) -> float:
    return rate(assistant_tone(t) for t in texts)


def leakage(text: str) -> list[str]:
    """What a reply must never contain, in order found: anonymization placeholders as written (the
    model echoing its training format: "<U1>", "<PHONE>") and the entity types of PII-shaped text
    (runtime/pii.py: "PHONE", "EMAIL", "ID_NUMBER", …)."""
    return [m.group() for m in PLACEHOLDER_RE.finditer(text)] + [s.entity for s in find_pii(text)]


def leakage_rate(texts: Sequence[str]) -> float:
    return rate(bool(leakage(t)) for t in texts)


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique / all token n-grams over the replies (n-grams never span two replies). Tokens are
    Latin words, single CJK characters, punctuation marks, emoji and placeholders (see `tokens`)."""
    grams = [tuple(ts[i : i + n]) for ts in map(tokens, texts) for i in range(len(ts) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


MIN_REPEATS = 4  # a unit said 4+ times in a row…
MAX_NATURAL_RUN = (
    8  # …is degenerate past 8 characters: "哈哈哈哈哈哈哈哈" is laughter, 20 哈 are a stuck model
)
MAX_UNIT = 20  # longest repeated unit looked for (characters, whitespace ignored)
_REPEAT_RES = tuple(re.compile(rf"(.{{{u}}})\1{{{MIN_REPEATS - 1},}}", re.S) for u in range(1, MAX_UNIT + 1))


def degenerate(text: str) -> str | None:
    """Why a reply is broken, or None. Whitespace is ignored. "empty": nothing but whitespace;
    "repeated_unit": the whole reply is one unit (a character, "好的", a phrase) repeated 4+ times and
    longer than 8 characters; "loop": such a run inside a longer reply."""
    t = "".join(text.split())
    if not t:
        return "empty"
    runs = [m for r in _REPEAT_RES for m in r.finditer(t)]
    longest = max(runs, key=lambda m: (m.end() - m.start(), -len(m.group(1))), default=None)
    if longest is None or longest.end() - longest.start() <= MAX_NATURAL_RUN:
        return None
    unit = longest.group(1)
    # The whole reply when it starts with the run and only a piece of the unit follows ("好的好的…好").
    whole = longest.start() == 0 and unit.startswith(t[longest.end() :])
    return "repeated_unit" if whole else "loop"


def degenerate_rate(texts: Sequence[str]) -> float:
    return rate(degenerate(t) is not None for t in texts)


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    """Mean, median and 90th percentile of characters per reply (all 0.0 for no replies)."""
    if not texts:
        return {"mean_chars": 0.0, "median_chars": 0.0, "p90_chars": 0.0}
    lengths = np.array([n_chars(t) for t in texts], dtype=float)
    return {
        "mean_chars": float(lengths.mean()),
        "median_chars": float(np.median(lengths)),
        "p90_chars": float(np.percentile(lengths, 90)),
    }


def text_metrics(
    generated: Sequence[str], reference: Sequence[str], background: Sequence[str] = ()
) -> dict[str, float]:
    """Everything eval_text reports for one model's replies, under stable names (module docstring).
    `background`: the other people's messages, to tell the persona's catchphrases from common words."""
    return {
        **style_metrics(generated, reference, background),
        "assistant_tone_rate": assistant_tone_rate(generated),
        "leakage_rate": leakage_rate(generated),
        "distinct_1": distinct_n(generated, 1),
        "distinct_2": distinct_n(generated, 2),
        "degenerate_rate": degenerate_rate(generated),
        "mean_chars": length_stats(generated)["mean_chars"],
    }
