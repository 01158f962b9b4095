"""Builds the person-name model (`runtime.person.NameModel`) from jieba's dictionary and its name
statistics, with the cues and weights of conf/anonymize `person`.

- words: jieba's `dict.txt` (349,046 words with corpus frequencies) as log probabilities, words of
  up to `max_word_chars` characters seen at least `min_word_count` times.
- name words: the dictionary's words tagged as a person's name (`nr`): 白雪, 黎明, 汪洋, 海燕 are
  names as often as words. The tag alone is not trusted (it also calls 阳光, 祝贺 and 文明 names):
  such a word is read as a name only where a name may start (a surname, or a given name alone
  between cues) and the context around it outweighs `name_word`.
- name characters: jieba's part-of-speech HMM emissions for the name states (`B`/`M`/`E` of `nr`):
  how likely each character is as the first (surname), a middle or the last character of a name,
  for the simplified characters in common use (GB 2312). The HMM learnt from newspapers of 1998:
  characters of children's names since (梓萱, 雨彤) and some older ones (淑芬) it hardly saw are
  raised to `given_name_char` (`given_name_chars`).
  Surnames are restricted to the list in `runtime.pii` (the same one titles use: 王医生) and the
  rarer ones of `more_surnames` (characters seldom used as words on their own: not 于, 和, 明).

Both ship inside the jieba package (MIT), so the model builds offline on a fresh machine.
"""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig

from pipelines.stage import StageError
from runtime import pii
from runtime.person import NameModel, surname_length

_CJK = ("\u3400", "\u9fff")


def _is_cjk(ch: str) -> bool:
    return _CJK[0] <= ch <= _CJK[1]


def _dictionary() -> Path:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    if not path.exists():
        raise StageError(f"{path} is missing: reinstall jieba (pip install --force-reinstall jieba==0.42.1)")
    return path


def _word_log_probs(path: Path, min_count: int, max_chars: int) -> tuple[dict[str, float], set[str]]:
    """Word log probabilities, and the words tagged as a person's name."""
    counts: dict[str, int] = {}
    tagged_names: set[str] = set()
    total = 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                raise StageError(f"{path} line {n}: expected 'word count [tag]'; reinstall jieba")
            count = int(parts[1])
            total += count
            if count >= min_count and len(parts[0]) <= max_chars:
                counts[parts[0]] = count
                if parts[2:3] == ["nr"]:
                    tagged_names.add(parts[0])
    log_total = math.log(total)
    return {w: round(math.log(c) - log_total, 2) for w, c in counts.items()}, tagged_names


def _simplified(ch: str) -> bool:
    """A character of GB 2312, the 6,763 simplified characters in common use (彬, 佑; not 間, 軟)."""
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _name_chars() -> dict[str, dict[str, float]]:
    """log P(char | B, M, E state of a person name) from jieba's POS HMM, for simplified Chinese
    characters only: the HMM also knows traditional ones, and a character the dictionary cannot
    read would make any text in traditional script (房間, 軟件) look like a name."""
    from jieba.posseg.prob_emit import P as emissions

    return {
        state: {
            ch: round(lp, 2) for ch, lp in emissions[(state, "nr")].items() if _is_cjk(ch) and _simplified(ch)
        }
        for state in ("B", "M", "E")
    }


def _full_name(
    word: str, words: dict[str, float], surnames, chars, common_word: float, min_chars: float
) -> bool:
    """A word of the dictionary that reads as surname + two-character given name: 吴振华 (not 黄金周
    or 古文化: a common word in it, 黄金 or 文化; not 谢谢您: its characters are not a name's)."""
    s = surname_length(word, surnames, pii.COMPOUND_SURNAMES)
    given = word[s:]
    if not s or len(given) != 2:
        return False
    if max(words.get(given, -99.0), words.get(word[: s + 1], -99.0)) > common_word:
        return False
    return chars["M"].get(given[0], -99.0) + chars["E"].get(given[1], -99.0) >= min_chars


def build(cfg: DictConfig) -> NameModel:
    """The model for conf/anonymize `person` (`cfg` is that section)."""
    words, tagged_names = _word_log_probs(_dictionary(), cfg.min_word_count, cfg.max_word_chars)
    chars = _name_chars()
    floor = cfg.given_name_char
    for ch in str(cfg.given_name_chars):  # 梓萱, 淑芬: characters the 1998 statistics hardly saw
        for state in ("M", "E"):
            chars[state][ch] = max(chars[state].get(ch, floor), floor)
    surnames = {ch: chars["B"].get(ch, math.log(1e-4)) for ch in (*pii.SURNAMES, *str(cfg.more_surnames))}
    # 二叔, 大姨, 姨夫, 姑妈, 姐姐: a prefix or kin character, then a kin character or suffix
    kin_chars = str(cfg.kin_chars)
    kin_terms = {a + b for a in str(cfg.kin_prefixes) + kin_chars for b in kin_chars + str(cfg.kin_suffixes)}
    not_names = frozenset({*map(str, cfg.not_names), *kin_terms})
    name_words = frozenset(w for w in tagged_names if len(w) >= 2 and w not in not_names)
    rules = (cfg.common_word, cfg.full_name_chars)  # read once: a DictConfig lookup is slow
    full_names = frozenset(w for w in name_words if _full_name(w, words, surnames, chars, *rules))
    return NameModel(
        words=words,
        surname={ch: round(lp, 2) for ch, lp in surnames.items()},
        compound_surnames=frozenset(pii.COMPOUND_SURNAMES),
        middle=chars["M"],
        last=chars["E"],
        unknown=round(min(words.values()) - cfg.unknown_penalty, 2),
        not_names=not_names,
        name_words=name_words - full_names,
        full_names=full_names,
        name_word=cfg.name_word,
        full_name_word=cfg.full_name_word,
        left_cues=tuple(map(str, cfg.left_cues)),
        right_cues=tuple(map(str, cfg.right_cues)),
        strong_left_cues=tuple(map(str, cfg.strong_left_cues)),
        strong_right_cues=tuple(map(str, cfg.strong_right_cues)),
        strong_cue=cfg.strong_cue,
        adverbials=tuple(map(str, cfg.adverbials)),
        prior=cfg.prior,
        given_prior=cfg.given_prior,
        cue=cfg.cue,
        boundary_cue=cfg.boundary_cue,
        compound_surname=cfg.compound_surname,
        common_word=cfg.common_word,
        nickname_prefixes=frozenset(map(str, cfg.nickname_prefixes)),
        nickname=cfg.nickname,
        kin_titles=tuple(map(str, cfg.kin_titles)),
        kin_title=cfg.kin_title,
        meta={"source": "jieba", "version": metadata.version("jieba"), "words": len(words)},
    )
