"""Names of people in Chinese free text (张伟, 欧阳娜娜, a given name after a cue: 说建华要结婚了),
found the same way when anonymize masks the training data and when the runtime masks a live window.

    finder = PersonFinder(NameModel.load(path))
    finder.find("我昨天见了张伟，他说王芳下周来")   # -> PERSON spans over 张伟 and 王芳

How: every run of CJK characters is segmented by a unigram word model (a general dictionary's word
frequencies) in which a person's name is one more kind of token. A name token is a surname followed
by one or two given-name characters (or, between two cues, a given name alone; or a nickname,
a prefix and one name character: 老王, 小李, 阿强), scored by a character model of Chinese
names: how likely each character is as a surname, a middle or a last character of a name. The
best segmentation wins, so `王芳下周来` reads 王芳 | 下周 | 来 and `周末` stays a word: a
name must explain its characters better than the dictionary does. Cue words around a candidate
(跟 / 给 before it, 说 / 来 / 家 after it, punctuation or the start of the message) raise its
score, strong cues more (碰到 / 谢谢 before it, 请客 / `，她` after it); an adverbial after it
is looked past (雷鸣昨天打电话: 打电话). A word the dictionary knows that is also a name
(白雪, 黎明, 海燕) is read as a name only between strong enough cues (谢谢白雪 but not 白雪很白);
words listed as never a person (kin terms: 孙女, 二叔) are kept.

`NameModel` is built by the pipeline (pipelines/anonymize/person_model.py, from jieba's dictionary
and name statistics and conf/anonymize `person`), written beside the anonymized data and shipped in
the bundle, so both sides use the same numbers. Standard library only.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runtime import pii

if TYPE_CHECKING:  # numpy loads only with a tagger
    from runtime.person_tagger import NameTagger

FORMAT = 2  # 2: name words and strong cues
MODEL_FILE = "person_model.json.gz"  # how anonymize's output and the bundle's person/ name the model
ENTITY = "PERSON"
SCORE = 0.55  # below a title's (0.6): 王医生 as one span, not 王医 + 生
_RUN = re.compile(r"[\u3400-\u9fff]+")
CJK_TRIGGER = r"[\x{3400}-\x{9fff}]"  # the same characters in RE2 syntax (a column-wide pre-check)
_UNSEEN = -30.0  # log probability of a character never seen at that position of a name
_TIE = 1e-6  # a name must beat the words it replaces: a tie (up to rounding) is read as words
_NUMERALS = frozenset("0123456789０１２３４５６７８９一二两三四五六七八九十百千几每半")
_SEPARATORS = frozenset("，,、。.！!？?：:；;@ \u2005\n\t~～…\"'“”‘’（）()《》[]【】")


@dataclass(frozen=True)
class NameModel:
    """Everything the finder needs: word and name-character log probabilities, cues, weights."""

    words: dict[str, float]  # word -> log probability (unigram segmentation)
    surname: dict[str, float]  # single-character surname -> log P(char | first of a name)
    compound_surnames: frozenset[str]  # 欧阳, 司马… (two characters, one fixed score)
    middle: dict[str, float]  # char -> log P(char | middle of a name)
    last: dict[str, float]  # char -> log P(char | last of a name)
    unknown: float  # log probability of a character the dictionary lacks
    not_names: frozenset[str]  # never a person here (kin terms, words of these chats)
    left_cues: tuple[str, ...]  # words that announce a person next: 跟, 见了, 告诉
    right_cues: tuple[str, ...]  # words that follow a person: 说, 来, 家
    prior: float  # log weight of a name token against dictionary words
    given_prior: float  # the same for a given name alone (between cues only)
    cue: float  # added per side with a cue word
    boundary_cue: float  # added per side at the start/end of the text or next to punctuation
    compound_surname: float = -3.0  # log P of a compound surname as the first of a name
    common_word: float = -13.0  # a word likelier than this is too common to stand for one person
    nickname_prefixes: frozenset[str] = frozenset()  # 老王, 小李, 阿强: prefix + one name character
    nickname: float = -6.0  # added to `prior` for such a form
    kin_titles: tuple[str, ...] = ()  # after a surname, an elder of the neighbourhood: 苏奶奶, 李大爷
    kin_title: float = -5.0  # added to `prior` for such a form
    name_words: frozenset[str] = frozenset()  # dictionary words that are also names: 白雪, 黎明, 汪洋
    name_word: float = -5.0  # log weight of reading such a word as a name: the context must outweigh it
    full_names: frozenset[str] = frozenset()  # names the dictionary knows as words: 吴振华, 陈国栋
    full_name_word: float = -1.0  # log weight of reading one as a name
    strong_left_cues: tuple[str, ...] = ()  # words that almost always announce a person: 碰到, 谢谢
    strong_right_cues: tuple[str, ...] = ()  # ... or follow one: 请客, ，她
    strong_cue: float = 4.0  # added per side with a strong cue (instead of `cue`)
    adverbials: tuple[str, ...] = ()  # may stand between a person and the verb: 雷鸣昨天打电话
    meta: dict = field(default_factory=dict)  # where the numbers came from (source, version)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "meta": self.meta,
            "weights": {
                "prior": self.prior,
                "given_prior": self.given_prior,
                "cue": self.cue,
                "boundary_cue": self.boundary_cue,
                "compound_surname": self.compound_surname,
                "common_word": self.common_word,
                "nickname": self.nickname,
                "kin_title": self.kin_title,
                "name_word": self.name_word,
                "full_name_word": self.full_name_word,
                "strong_cue": self.strong_cue,
                "unknown": self.unknown,
            },
            "nickname_prefixes": sorted(self.nickname_prefixes),
            "kin_titles": list(self.kin_titles),
            "adverbials": list(self.adverbials),
            "cues": {
                "left": list(self.left_cues),
                "right": list(self.right_cues),
                "strong_left": list(self.strong_left_cues),
                "strong_right": list(self.strong_right_cues),
            },
            "not_names": sorted(self.not_names),
            "name_words": sorted(self.name_words),
            "full_names": sorted(self.full_names),
            "compound_surnames": sorted(self.compound_surnames),
            "surname": self.surname,
            "middle": self.middle,
            "last": self.last,
            "words": self.words,
        }

    @classmethod
    def from_dict(cls, d: dict) -> NameModel:
        if d.get("format") != FORMAT:
            raise ValueError(
                f"person name model format {d.get('format')}, this runtime reads {FORMAT}: rebuild the "
                "bundle with this version of Still (dvc repro package) or run the runtime it was built with"
            )
        w, cues = d["weights"], d["cues"]
        return cls(
            words=d["words"], surname=d["surname"], compound_surnames=frozenset(d["compound_surnames"]),
            middle=d["middle"], last=d["last"], unknown=w["unknown"], not_names=frozenset(d["not_names"]),
            left_cues=tuple(cues["left"]), right_cues=tuple(cues["right"]), prior=w["prior"],
            given_prior=w["given_prior"], cue=w["cue"], boundary_cue=w["boundary_cue"],
            compound_surname=w["compound_surname"], common_word=w["common_word"], meta=d.get("meta", {}),
            nickname_prefixes=frozenset(d["nickname_prefixes"]), nickname=w["nickname"],
            kin_titles=tuple(d["kin_titles"]), kin_title=w["kin_title"],
            name_words=frozenset(d["name_words"]), name_word=w["name_word"],
            full_names=frozenset(d["full_names"]), full_name_word=w["full_name_word"],
            strong_left_cues=tuple(cues["strong_left"]), strong_right_cues=tuple(cues["strong_right"]),
            strong_cue=w["strong_cue"], adverbials=tuple(d["adverbials"]),
        )  # fmt: skip

    def save(self, path: Path) -> None:
        """gzip'd JSON (the dictionary is most of it: ~5 MB as text, ~2 MB packed), written atomically."""
        tmp = path.with_name(path.name + ".tmp")
        data = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f,
        ):  # same model, same bytes
            f.write(data)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> NameModel:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


class PersonFinder:
    """PERSON spans in text under one `NameModel`, and with a learned tagger (runtime/person_tagger.py)
    when one is given: its names join the rules' (overlapping findings become one span), and the
    rules' names it reads as plainly no name (发张图) are dropped."""

    def __init__(self, model: NameModel, tagger: NameTagger | None = None):
        self.model = model
        self.tagger = tagger
        m = model
        self._max_word = max((len(w) for w in m.words), default=1)
        longest_first = sorted(map(re.escape, m.adverbials), key=len, reverse=True)
        self._adverbial = re.compile("|".join(longest_first)) if longest_first else None
        # most characters neither end a left cue nor start a right one: no call for those
        self._left_last = {w[-1] for w in (*m.left_cues, *m.strong_left_cues)} | _NUMERALS
        self._right_first = {w[0] for w in (*m.right_cues, *m.strong_right_cues, *m.adverbials)}

    def find(self, text: str) -> list[pii.Span]:
        return self.find_all([text])[0]

    def find_all(self, texts: Sequence[str]) -> list[list[pii.Span]]:
        """`find` of every text; the tagger reads them in batches."""
        found = [self._rules(text) for text in texts]
        if self.tagger is None:
            return found
        floor = self.tagger.rule_floor
        for i, (read, sure) in enumerate(self.tagger.read_all(texts, found)):
            rules = [s for s, p in zip(found[i], sure, strict=True) if p >= floor]
            tagged = [r.span for r in read if not self._vetoed(texts[i], *r)]
            found[i] = pii.resolve_spans([*rules, *tagged]) if tagged else rules
        return found

    def _vetoed(self, text: str, span: pii.Span, confidence: float) -> bool:
        """A name the tagger read that is or starts with a kin term or role (孙女, 房东刚), a word
        too common to be a name (居然, 东西: unless the tagger is sure, 光明呢？), the start of a
        longer word (小孙 of 小孙子; a full name like 周杰伦 excepted), or cut out of two words (庭医 of
        家庭医生)."""
        m, name = self.model, text[span.start : span.end]
        if self._names_nobody(name):
            return True
        if m.words.get(name, -99.0) > self.tagger.common_word and confidence < self.tagger.word_name_score:
            return True
        longer = text[span.start : span.end + 1]
        if span.end < len(text) and longer in m.words and longer not in m.full_names:
            return True
        # both edges cut a common word: 庭医 of 家庭医生 (家庭 | 医生)
        return (
            span.start > 0
            and span.end < len(text)
            and all(
                m.words.get(text[i - 1 : i + 1], -99.0) > self.tagger.common_word
                for i in (span.start, span.end)
            )
        )

    def _names_nobody(self, name: str) -> bool:
        """A kin term or role, or a name that starts with one: 房东刚 of 房东刚打电话来 (房 is a
        surname too)."""
        return any(name[:k] in self.model.not_names for k in range(2, len(name) + 1))

    def _rules(self, text: str) -> list[pii.Span]:
        out: list[pii.Span] = []
        for run in _RUN.finditer(text):
            out += self._segment(text, *run.span())
        return out

    def given_name(self, name: str) -> str | None:
        """The two-character given name of a full name (建华 of 何建华), unless it is a common word
        (小龙 of 唐小龙: 小龙虾): how the same person is called in other messages."""
        m = self.model
        surname = surname_length(name, m.surname, m.compound_surnames)
        given = name[surname:]
        if not surname or len(given) != 2 or given in m.not_names:
            return None
        return given if m.words.get(given, float("-inf")) <= m.common_word else None

    # ------------------------------------------------------------------ scoring

    def _left(self, text: str, start: int) -> float | None:
        """What the text before a candidate adds: a strong or a plain cue word, or the start or
        punctuation; None after a numeral (一张卡, 两万: a measure word or a number, not a surname)."""
        m = self.model
        if text.endswith(m.strong_left_cues, 0, start):
            return m.strong_cue
        if start == 0 or text[start - 1] in _SEPARATORS:
            return m.boundary_cue
        if text[start - 1] in _NUMERALS:
            return None
        return m.cue if text.endswith(m.left_cues, 0, start) else 0.0

    def _right(self, text: str, end: int) -> float:
        """What the text after a candidate adds; past an adverbial (昨天, 已经) the better of it and
        what follows it (雷鸣昨天打电话: 打电话)."""
        m = self.model
        if text.startswith(m.strong_right_cues, end):  # may start with punctuation: ，她
            return m.strong_cue
        if end == len(text) or text[end] in _SEPARATORS:
            return m.boundary_cue
        cue = m.cue if text.startswith(m.right_cues, end) else 0.0
        adverbial = self._adverbial.match(text, end) if self._adverbial else None
        return max(cue, self._right(text, adverbial.end())) if adverbial else cue

    def _segment(self, text: str, a: int, z: int) -> list[pii.Span]:
        """Viterbi over text[a:z]: the best split into dictionary words, single characters and names
        (the hot loop of anonymize: written for speed, context computed once per position)."""
        m, n = self.model, z - a
        surname, compound, middle, last = m.surname, m.compound_surnames, m.middle, m.last
        prefixes = m.nickname_prefixes
        left_last, right_first = self._left_last, self._right_first
        left = [  # None: no name may start here
            self._left(text, a + i) if i == 0 or text[a + i - 1] in left_last else 0.0 for i in range(n)
        ]
        right = [  # indexed by where a name ends
            self._right(text, a + j) if j == n or text[a + j] in right_first else 0.0 for j in range(n + 1)
        ]
        cue = m.cue
        # a name can start where a surname stands, or a given name alone between two cues
        starts = [
            i
            for i in range(n)
            if left[i] is not None
            and (text[a + i] in surname or text[a + i : a + i + 2] in compound
                 or (text[a + i] in prefixes and i + 2 <= n)
                 or (left[i] and i + 2 <= n and right[i + 2] and max(left[i], right[i + 2]) >= cue))
        ]  # fmt: skip
        if not starts:
            return []
        names_at = set(starts)
        words, unknown, not_names, max_word = m.words, m.unknown, m.not_names, self._max_word
        name_words, full_names = m.name_words, m.full_names
        best = [0.0] + [float("-inf")] * n
        back: list[tuple[int, bool]] = [(0, False)] * (n + 1)
        for i in range(n):
            here = best[i]
            p = a + i
            for length in range(1, min(max_word, n - i) + 1):
                lp = words.get(text[p : p + length])
                if lp is None:
                    if length > 1:
                        continue
                    lp = unknown
                k = i + length
                if here + lp > best[k] or (back[k][1] and here + lp >= best[k] - _TIE):  # a tie: words
                    best[k], back[k] = here + lp, (i, False)
            if i not in names_at:
                continue
            before = left[i]
            if text[p : p + 2] in compound:
                s, first = 2, m.compound_surname
            else:
                first = surname.get(text[p])
                s = 0 if first is None else 1
            # a word that is also a name (白雪, 海燕): a name where the context outweighs `name_word`;
            # the dictionary's full names (吴振华) are names unless the context says otherwise
            for k in range(i + 2, min(i + max_word, n) + 1):
                word = text[p : a + k]
                if word in full_names:
                    weight = m.full_name_word
                elif word in name_words:
                    weight = m.name_word
                else:
                    continue
                score = here + words[word] + weight + before + right[k]
                if score > best[k] + _TIE:
                    best[k], back[k] = score, (i, True)
            if s:
                for g in (1, 2):
                    end = i + s + g
                    if end > n:
                        break
                    q = p + s
                    chars = last.get(text[q], _UNSEEN) if g == 1 else (
                        middle.get(text[q], _UNSEEN) + last.get(text[q + 1], _UNSEEN))  # fmt: skip
                    score = here + m.prior + first + chars + before + right[end]
                    if score > best[end] + _TIE and not self._names_nobody(text[p : a + end]):  # 房东刚
                        best[end], back[end] = score, (i, True)
                # 苏奶奶: a title of an elder after a surname (谢谢奶奶 stays 谢谢 | 奶奶: a word)
                for title in m.kin_titles:
                    end = i + s + len(title)
                    if text.startswith(title, p + s) and end <= n:
                        score = here + m.prior + m.kin_title + first + before + right[end]
                        if score > best[end] + _TIE:
                            best[end], back[end] = score, (i, True)
            # a nickname: 老王 / 小李 (a surname), 阿强 / 小雨 (a given name's character); the
            # dictionary's own words (老师, 小时, 小心) win unless the context says a person
            if text[p] in prefixes and i + 2 <= n:
                char = max(surname.get(text[p + 1], _UNSEEN), last.get(text[p + 1], _UNSEEN))
                score = here + m.prior + m.nickname + char + before + right[i + 2]
                if score > best[i + 2] + _TIE and text[p : p + 2] not in not_names:
                    best[i + 2], back[i + 2] = score, (i, True)
            # a given name alone: a cue or boundary on both sides, one of them a cue word
            # (说建华要结婚了, 建华跟我说的; not an exclamation between commas: ，太差，)
            if before and i + 2 <= n and right[i + 2] and max(before, right[i + 2]) >= cue:
                after = right[i + 2]
                score = here + m.given_prior + middle.get(text[p], _UNSEEN) + last.get(text[p + 1], _UNSEEN)
                score += before + after
                if score > best[i + 2] + _TIE and text[p : p + 2] not in not_names:
                    best[i + 2], back[i + 2] = score, (i, True)
        spans, j = [], n
        while j > 0:
            i, is_name = back[j]
            if is_name:
                spans.append(pii.Span(a + i, a + j, ENTITY, SCORE))
            j = i
        return spans[::-1]


def surname_length(name: str, surnames, compound_surnames) -> int:
    """How many characters of `name` are its surname: 2 (欧阳娜娜), 1 (张伟) or 0 (not a surname)."""
    return 2 if name[:2] in compound_surnames else 1 if name[:1] in surnames else 0


def without_overlaps(found: Sequence[pii.Span], known: Sequence[pii.Span]) -> list[pii.Span]:
    """`found` less its PERSON findings that overlap a known name: a member's own placeholder wins
    over a generic <PERSON> (王建国 is <U3>, not <PERSON>, even where a longer guess covers it)."""
    if not known:
        return list(found)
    return [
        f for f in found
        if f.entity != ENTITY or not any(f.start < k.end and k.start < f.end for k in known)
    ]  # fmt: skip
