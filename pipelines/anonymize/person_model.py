"""Builds the person-name model (`runtime.person.NameModel`) from jieba's dictionary and its name
statistics, with the cues and weights of conf/anonymize `person`.

- words: jieba's `dict.txt` (349,046 words with corpus frequencies) as log probabilities, words of
  up to `max_word_chars` characters seen at least `min_word_count` times. Its part-of-speech tags
  are not used: they call 阳光, 祝贺 and 文明 person names (`nr`).
- name characters: jieba's part-of-speech HMM emissions for the name states (`B`/`M`/`E` of `nr`):
  how likely each character is as the first (surname), a middle or the last character of a name,
  for characters the dictionary's words use at least `min_char_count` times.
  Surnames are restricted to the list in `runtime.pii` (the same one titles use: 王医生) and the
  rarer ones of `more_surnames` (characters seldom used as words on their own: not 于, 和, 明).

Both ship inside the jieba package (MIT), so the model builds offline on a fresh machine.
"""

from __future__ import annotations

import math
from collections import Counter
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig

from pipelines.stage import StageError
from runtime import pii
from runtime.person import NameModel

_CJK = ("\u3400", "\u9fff")


def _is_cjk(ch: str) -> bool:
    return _CJK[0] <= ch <= _CJK[1]


def _dictionary() -> Path:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    if not path.exists():
        raise StageError(f"{path} is missing: reinstall jieba (pip install --force-reinstall jieba==0.42.1)")
    return path


def _word_log_probs(path: Path, min_count: int, max_chars: int) -> tuple[dict[str, float], Counter[str]]:
    """Word log probabilities, and how often each character occurs in the dictionary's words."""
    counts: dict[str, int] = {}
    chars: Counter[str] = Counter()
    total = 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                raise StageError(f"{path} line {n}: expected 'word count [tag]'; reinstall jieba")
            count = int(parts[1])
            total += count
            chars.update(dict.fromkeys(parts[0], count))
            if count >= min_count and len(parts[0]) <= max_chars:
                counts[parts[0]] = count
    log_total = math.log(total)
    return {w: round(math.log(c) - log_total, 2) for w, c in counts.items()}, chars


def _name_chars(usable: set[str]) -> dict[str, dict[str, float]]:
    """log P(char | B, M, E state of a person name) from jieba's POS HMM, for `usable` characters.
    The HMM also knows traditional characters, the dictionary hardly: a character the dictionary
    cannot read would make any text in traditional script (房間, 軟件) look like a name."""
    from jieba.posseg.prob_emit import P as emissions

    return {
        state: {ch: round(lp, 2) for ch, lp in emissions[(state, "nr")].items() if ch in usable}
        for state in ("B", "M", "E")
    }


def build(cfg: DictConfig) -> NameModel:
    """The model for conf/anonymize `person` (`cfg` is that section)."""
    words, char_counts = _word_log_probs(_dictionary(), cfg.min_word_count, cfg.max_word_chars)
    chars = _name_chars({ch for ch, n in char_counts.items() if n >= cfg.min_char_count and _is_cjk(ch)})
    surnames = {ch: chars["B"].get(ch, math.log(1e-4)) for ch in (*pii.SURNAMES, *str(cfg.more_surnames))}
    return NameModel(
        words=words,
        surname={ch: round(lp, 2) for ch, lp in surnames.items()},
        compound_surnames=frozenset(pii.COMPOUND_SURNAMES),
        middle=chars["M"],
        last=chars["E"],
        unknown=round(min(words.values()) - cfg.unknown_penalty, 2),
        not_names=frozenset(map(str, cfg.not_names)),
        left_cues=tuple(map(str, cfg.left_cues)),
        right_cues=tuple(map(str, cfg.right_cues)),
        prior=cfg.prior,
        given_prior=cfg.given_prior,
        cue=cfg.cue,
        boundary_cue=cfg.boundary_cue,
        compound_surname=cfg.compound_surname,
        common_word=cfg.common_word,
        nickname_prefixes=frozenset(map(str, cfg.nickname_prefixes)),
        nickname=cfg.nickname,
        meta={"source": "jieba", "version": metadata.version("jieba"), "words": len(words)},
    )
