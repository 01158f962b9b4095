"""A learned character tagger for names of people in Chinese chat text, next to the rule finder.

    tagger = NameTagger.load(path)
    tagger.find_all(["桂花呢？叫她下来吃饭了", "晚点我去接明轩"])   # -> PERSON spans per text

The rule finder (runtime/person.py) reads a name where its surname and the cue words around it say
so; a given name used alone (桂花呢？, 说明轩今年要回来) or a name in a context no list foresaw
needs what a model learns from examples. This one reads every character with its neighbours (two
convolutions: seven characters of context) and labels it: a name begins, inside one, or none. Its
inputs per character: a learned embedding, and fixed numbers about the character (how likely it is
as a surname, a middle or a last character of a name, as a word of its own; CJK, ASCII or other),
so a name of characters the training never saw still reads as one.

Trained by the `person_tagger` stage (pipelines/person_tagger: People's Daily's labelled names and
chat templates, torch), run here in numpy: the same arrays, the same sums, on the anonymize stage's
million messages in batches and on the runtime's live windows one at a time. A text's result never
depends on the batch it was read in: activations past its end are zeroed after each layer, as in
training.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from runtime import pii
from runtime.person import ENTITY, SCORE  # the rule finder's: its names and these are one kind

FORMAT = 2  # 2: word_name_score, rule_floor
MODEL_FILE = "person_tagger.npz"  # how the stage's output and the bundle's person/ name the tagger
PAD, UNKNOWN = 0, 1  # embedding rows: padding, a character the training saw too seldom
OUT, BEGIN, INSIDE = 0, 1, 2  # labels: not a name, a name begins, inside one
STATS = ("surname", "middle", "last", "word")  # per-character numbers from the name model and dictionary
CLASSES = ("cjk", "ascii_alnum", "other")
FEATURES = len(STATS) + len(CLASSES)
_BMP = 0x10000  # characters past the Basic Multilingual Plane read as UNKNOWN / "other"
_REACH = 3  # characters either side a label depends on: one through the first layer, two the second
_OTHER = 0xFFFD  # how such a character reads: the replacement character (unknown, class "other")
_BATCH_CHARS = 65536  # characters per batch (padded): bounds memory on a million messages
WEIGHTS = ("embedding", "conv1_w", "conv1_b", "conv2_w", "conv2_b", "out_w", "out_b")


class Reading(NamedTuple):
    """A name the tagger read."""

    span: pii.Span
    confidence: float  # mean P(name) of its characters


def feature_table(chars: str, rows: np.ndarray) -> np.ndarray:
    """Fixed inputs for every BMP character (65536 x FEATURES): `rows` (len(chars) x len(STATS),
    already scaled) for `chars`, zeros for the rest; then the character's class."""
    table = np.zeros((_BMP, FEATURES), dtype=np.float32)
    if chars:
        table[_codepoints(chars), : len(STATS)] = rows
    cp = np.arange(_BMP)
    cjk = _is_cjk(cp)
    alnum = ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0x41) & (cp <= 0x5A)) | ((cp >= 0x61) & (cp <= 0x7A))
    table[:, len(STATS)] = cjk
    table[:, len(STATS) + 1] = alnum
    table[:, len(STATS) + 2] = ~(cjk | alnum)
    return table


def embedding_index(chars: str) -> np.ndarray:
    """Embedding row of every BMP character: 2, 3… for `chars` in order, UNKNOWN for the rest."""
    index = np.full(_BMP, UNKNOWN, dtype=np.int32)
    if chars:
        index[_codepoints(chars)] = np.arange(2, 2 + len(chars), dtype=np.int32)
    return index


def _is_cjk(cp: np.ndarray) -> np.ndarray:
    return (cp >= 0x3400) & (cp <= 0x9FFF)  # runtime.person's CJK runs: the characters names are read in


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _confidences(spans: Sequence[pii.Span], name_p: np.ndarray, origin: np.ndarray) -> list[float]:
    """Mean P(name) over each span; `origin`: where each character read stands in the text (a span
    of Chinese characters is read whole)."""
    out = []
    for span in spans:
        a, z = np.searchsorted(origin, [span.start, span.end])
        out.append(float(name_p[a:z].mean()) if z - a == span.end - span.start else 1.0)
    return out


def _near_chinese(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code points of every text's characters within `_REACH` of a Chinese one, all texts
    one after another; how many per text; and where each stands in its text."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    cp = _codepoints("".join(texts))
    cp = np.where(cp < _BMP, cp, _OTHER)
    text_of = np.repeat(np.arange(len(texts)), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    here = np.arange(len(cp))
    cjk = _is_cjk(cp)
    before = np.maximum.accumulate(np.where(cjk, here, -_REACH - 1))  # the last Chinese one so far
    after = np.minimum.accumulate(np.where(cjk, here, len(cp) + _REACH)[::-1])[::-1]
    near = ((here - before <= _REACH) & (before >= first[text_of])) | (
        (after - here <= _REACH) & (after < (first + lengths)[text_of])
    )
    return cp[near], np.bincount(text_of[near], minlength=len(texts)), (here - first[text_of])[near]


def _batches(lengths: np.ndarray):
    """Index arrays of the non-empty texts, shortest first, each batch at most `_BATCH_CHARS`
    characters once padded to its longest (a longer text alone)."""
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] > 0]
    i = 0
    while i < len(order):
        ahead = lengths[order[i : i + _BATCH_CHARS]]  # sorted: a batch's width is its last length
        stop = i + max(1, int(np.sum(ahead * np.arange(1, len(ahead) + 1) <= _BATCH_CHARS)))
        yield order[i:stop]
        i = stop


def _shift_sum(taps: np.ndarray, dilation: int) -> np.ndarray:
    """A same-length convolution of three taps from each position's share through each tap
    (batch x length x (3 * out) or batch x length x 3 x out): before + here + after."""
    taps = taps.reshape(*taps.shape[:2], 3, -1)
    out = taps[:, :, 1].copy()
    out[:, dilation:] += taps[:, :-dilation, 0]
    out[:, :-dilation] += taps[:, dilation:, 2]
    return out


@dataclass(frozen=True, eq=False)  # arrays inside: compare what it finds, not the object
class NameTagger:
    """The tagger's arrays (see WEIGHTS; conv weights as taps x in x out) and the characters they
    read: `chars` the embedded ones, `stat_chars` / `stat_rows` the fixed per-character numbers."""

    chars: str
    stat_chars: str
    stat_rows: np.ndarray
    weights: dict[str, np.ndarray]
    min_score: float = 0.5  # mean P(name) = 1 - P(OUT) over a span below this: not a name
    common_word: float = -11.0  # a span the dictionary knows as a word likelier than this (居然, 东西)
    # is not a name: applied by runtime.person.PersonFinder, which holds the dictionary ...
    word_name_score: float = 1.0  # ... unless its mean P(name) reaches this: 光明呢？, 碰到高峰了
    rule_floor: float = 0.0  # a name the rule finder reads is dropped where the mean P(name) of its
    # characters is below this (发张图, 杨梅酒: the context the rules' cue lists do not know)
    meta: dict | None = None  # how it was trained and what it scored

    def __post_init__(self):
        object.__setattr__(self, "_index", embedding_index(self.chars))
        object.__setattr__(self, "_features", feature_table(self.stat_chars, self.stat_rows))
        if self.weights:  # the first layer per character and tap, computed once (see logits)
            w1 = self.weights["conv1_w"]
            inputs = np.concatenate([self.weights["embedding"][self._index], self._features], axis=1)
            first = (inputs @ w1.transpose(1, 0, 2).reshape(w1.shape[1], -1)).astype(np.float32)
            object.__setattr__(self, "_first", first.reshape(_BMP, w1.shape[0], w1.shape[2]))
            w2 = self.weights["conv2_w"]  # taps x in x out -> in x (taps * out)
            object.__setattr__(self, "_second", w2.transpose(1, 0, 2).reshape(w2.shape[1], -1))

    # ------------------------------------------------------------------ files

    def save(self, path: Path) -> None:
        """One .npz, written atomically (a temporary name, then os.replace)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        meta = {
            **(self.meta or {}),
            "format": FORMAT,
            "min_score": self.min_score,
            "common_word": self.common_word,
            "word_name_score": self.word_name_score,
            "rule_floor": self.rule_floor,
        }
        with tmp.open("wb") as f:
            np.savez_compressed(
                f, chars=np.array(self.chars), stat_chars=np.array(self.stat_chars),
                stat_rows=self.stat_rows.astype(np.float32),
                meta=np.array(json.dumps(meta, ensure_ascii=False)),
                **{k: v.astype(np.float32) for k, v in self.weights.items()},
            )  # fmt: skip
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> NameTagger:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: the person tagger is built by `dvc repro person_tagger` and ships "
                "in the bundle's person/ folder; rebuild the bundle (dvc repro package)"
            )
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(
                f"{path} is not a person tagger file ({e}): rebuild it (dvc repro person_tagger)"
            ) from e
        missing = [k for k in (*WEIGHTS, "chars", "stat_chars", "stat_rows", "meta") if k not in arrays]
        if missing:
            raise ValueError(f"{path} lacks {missing}: rebuild it (dvc repro person_tagger)")
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{path}: person tagger format {meta.get('format')}, this runtime reads {FORMAT}: "
                "rebuild it (dvc repro person_tagger package) or run the runtime it was built with"
            )
        return cls(
            chars=str(arrays["chars"]), stat_chars=str(arrays["stat_chars"]), stat_rows=arrays["stat_rows"],
            weights={k: arrays[k] for k in WEIGHTS}, meta=meta,
            **{k: float(meta[k]) for k in ("min_score", "common_word", "word_name_score", "rule_floor")},
        )  # fmt: skip

    # ------------------------------------------------------------------ reading

    def inputs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embedding rows (batch x length), fixed features (batch x length x FEATURES) and the mask
        of real characters, texts padded to the longest."""
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        width = int(lengths.max(initial=0))
        cp = _codepoints("".join(texts))
        cp = np.where(cp < _BMP, cp, _OTHER)
        mask = np.arange(width) < lengths[:, None]
        ids = np.zeros(mask.shape, dtype=np.int32)
        ids[mask] = self._index[cp]
        features = np.zeros((*mask.shape, FEATURES), dtype=np.float32)
        features[mask] = self._features[cp]
        return ids, features, mask

    def logits(self, cp: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Scores of OUT, BEGIN, INSIDE per character (batch x length x 3) of a batch: code points
        `cp` of the characters `mask` marks (batch x length).

        Both layers are sums of each position's neighbours through the taps. The first is linear in
        what a character brings (its embedding and features), so each character's share through
        each tap was computed once at load: a look-up instead of a product per character. The
        second takes one product for its three taps, then shifts (the tests hold the plain form)."""
        w = self.weights
        keep = mask[..., None].astype(np.float32)
        taps = np.zeros((*mask.shape, *self._first.shape[1:]), dtype=np.float32)
        taps[mask] = self._first[cp]
        h = np.maximum(w["conv1_b"] + _shift_sum(taps, 1), 0.0) * keep
        h = np.maximum(w["conv2_b"] + _shift_sum(h @ self._second, 2), 0.0) * keep
        return h @ w["out_w"] + w["out_b"]

    def read_all(
        self, texts: Sequence[str], asked: Sequence[Sequence[pii.Span]] | None = None
    ) -> list[tuple[list[Reading], list[float]]]:
        """Per text: the names it reads (span and confidence), and its confidence in each span
        `asked[i]` names in texts[i] (the rule finder's names, spans of Chinese characters), read in
        batches of similar length.

        Only Chinese characters are labelled, and each sees three characters either side (the two
        layers' reach): beyond that, a run of other characters (English, digits, links) changes
        nothing, so it is read only up to three characters from the nearest Chinese one."""
        asked = asked or [()] * len(texts)
        out: list[tuple[list[Reading], list[float]]] = [([], [1.0] * len(a)) for a in asked]
        questions = np.fromiter(map(bool, asked), dtype=bool, count=len(texts))
        cp, lengths, where = _near_chinese(texts)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        for batch in _batches(lengths):
            mask = np.arange(int(lengths[batch[-1]])) < lengths[batch][:, None]
            chars = cp[(starts[batch][:, None] + np.arange(mask.shape[1]))[mask]]
            logits = self.logits(chars, mask)
            cjk = np.zeros(mask.shape, dtype=bool)
            cjk[mask] = _is_cjk(chars)
            labels = np.where(cjk, logits.argmax(axis=-1), OUT)  # names in Chinese characters only
            rows = np.flatnonzero((labels != OUT).any(axis=1) | questions[batch])
            z = logits[rows]
            name_p = 1.0 - 1.0 / np.exp(z - z[..., OUT : OUT + 1]).sum(axis=-1)  # 1 - softmax[OUT]
            for row, p in zip(rows.tolist(), name_p, strict=True):
                k = int(batch[row])
                origin = where[starts[k] : starts[k] + lengths[k]]
                out[k] = self._spans(labels[row], p, origin), _confidences(asked[k], p, origin)
        return out

    def find_all(self, texts: Sequence[str]) -> list[list[pii.Span]]:
        """PERSON spans of every text."""
        return [[r.span for r in names] for names, _ in self.read_all(texts)]

    def find(self, text: str) -> list[pii.Span]:
        return self.find_all([text])[0]

    def _spans(self, labels: np.ndarray, name_p: np.ndarray, origin: np.ndarray) -> list[Reading]:
        """Runs of BEGIN INSIDE… (an INSIDE after OUT opens one too: the model's stray label) of two
        or more characters whose mean P(name) reaches min_score; `origin`: where each character read
        stands in the text."""
        spans, start, name_p = [], None, name_p.tolist()
        for j, label in enumerate([*labels.tolist()[: len(origin)], OUT]):
            if start is not None and label != INSIDE:
                mean = sum(name_p[start:j]) / (j - start)
                if j - start >= 2 and mean >= self.min_score:
                    span = pii.Span(int(origin[start]), int(origin[j - 1]) + 1, ENTITY, SCORE)
                    spans.append(Reading(span, mean))
                start = None
            if label == BEGIN or (label == INSIDE and start is None):
                start = j
        return spans
