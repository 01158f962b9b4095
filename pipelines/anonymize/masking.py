"""Masking message text: PII through presidio, names of members and third parties through the name
index, resolved together so each text is rewritten once.

Speed: presidio costs ~30-50 µs per call here, and almost no message contains PII. One column-wide
scan (pyarrow RE2 over `runtime.pii.PII_TRIGGER`, no Python loop) marks the texts that could hold
PII; only those go to presidio, and with only the recognizers whose own trigger fired. Names are
looked up in every text with the name index's trie regex (~1-2 µs a text; an RE2 alternation of
thousands of case-insensitive names was slower by orders of magnitude). `prefilter=False` sends
every text to presidio with all recognizers: the per-message baseline, with the same output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine

from pipelines.anonymize import recognizers
from pipelines.anonymize.speakers import NameIndex
from runtime import person, pii
from runtime.person import NameModel, PersonFinder

if TYPE_CHECKING:
    from pipelines.anonymize.ner import NerModel
    from runtime.person_tagger import NameTagger

AT_MENTION = "AT_MENTION"  # count key: members' names written as @name


@dataclass(frozen=True)
class Masker:
    engine: AnalyzerEngine
    entities: tuple[str, ...]  # PII types to mask
    names: NameIndex
    find_person: Remembered | None = None  # the engine's person finder (its last answer kept)
    person_finder: PersonFinder | None = None
    ner: NerModel | None = None  # a local NER model (pipelines/anonymize/ner.py), run in batches

    @classmethod
    def build(
        cls,
        entities: Sequence[str],
        names: NameIndex,
        model: NameModel | None = None,
        ner: NerModel | None = None,
        tagger: NameTagger | None = None,
    ) -> Masker:
        """A masker whose engine runs the pattern recognizers and, with a name model and PERSON
        wanted, the person finder (with `tagger`, the learned one, beside its rules; one `find`
        shared by the pre-check and presidio); with PERSON wanted, `ner`'s names are masked too."""
        entities = tuple(entities)
        finder = PersonFinder(model, tagger) if model is not None and person.ENTITY in entities else None
        find = Remembered(finder.find) if finder else None
        ner = ner if person.ENTITY in entities else None
        return cls(recognizers.build_engine(entities, find), entities, names, find, finder, ner)

    def spans(self, text: str, entities: Sequence[str] | None = None) -> list[pii.Span]:
        """Resolved findings in one text: names, and PII of `entities` (None: all configured).
        A known name wins over a PERSON guess that overlaps it."""
        entities = self.entities if entities is None else entities
        # presidio reads an empty entity list as "all entities": skip the call instead
        found = recognizers.analyze(self.engine, text, entities) if entities else []
        known = self.names.find(text)
        return pii.resolve_spans([*person.without_overlaps(found, known), *known])

    def mask(self, text: str, entities: Sequence[str] | None = None) -> tuple[str, list[pii.Span]]:
        spans = self.spans(text, entities)
        return (pii.replace_spans(text, spans) if spans else text), spans


class Remembered:
    """A find function that keeps its last answer, and takes one given for a text: the masker's
    pre-check, presidio's recognizer and a batch read beforehand share one result per text."""

    def __init__(self, find: Callable[[str], list[pii.Span]]):
        self.find = find
        self.text: str | None = None
        self.spans: list[pii.Span] = []

    def remember(self, text: str, spans: list[pii.Span]) -> None:
        self.text, self.spans = text, spans

    def __call__(self, text: str) -> list[pii.Span]:
        if text != self.text:
            self.remember(text, self.find(text))
        return self.spans


def matches(texts: Sequence[str], regex: str) -> np.ndarray:
    """Which texts an RE2 regex matches, for the whole column at once."""
    hit = pc.match_substring_regex(pa.array(texts, type=pa.large_string()), regex)
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


def pii_candidates(texts: Sequence[str]) -> np.ndarray:
    """Which texts could contain PII (a superset: the others cannot match any pattern)."""
    return matches(texts, pii.PII_TRIGGER)


@dataclass
class Masked:
    texts: list[str]
    spans: list[Sequence[pii.Span]]  # what replaced what, per text (offsets in the text given)
    counts: Counter[str]  # replaced findings by entity (SPEAKER: members' names, AT_MENTION: as @name)
    analyzed: int  # texts presidio analyzed
    person_names: Counter[str]  # names the person finder masked, as written (private)
    propagated: list[str]  # of those, the ones masked wherever they were written (private)


def mask_texts(
    masker: Masker, texts: Sequence[str], prefilter: bool = True, propagate_min_count: int = 0
) -> Masked:
    """Every text masked, in two passes over the column.

    1. Each text: with the prefilter, presidio sees only texts a trigger marks, with the
       recognizers whose trigger fired; the person finder runs first on texts with CJK characters,
       and PERSON joins those recognizers where it found someone. A NER model, when the masker has
       one, reads all texts with CJK characters in batches first; its names join the finder's.
    2. A name the finder masked at least `propagate_min_count` times (0: never) is masked wherever
       else it is written too: 张伟 found in 我见了张伟 is a person in 张伟今天没来 as well; so is
       the given name of a full name (建华 of 何建华), unless it is a common word.
    """
    out = list(texts)
    spans_of: list[Sequence[pii.Span]] = [()] * len(out)
    names: Counter[str] = Counter()
    hits = pii_candidates(out) if prefilter else np.ones(len(out), dtype=bool)
    find_person = masker.find_person
    cjk = matches(out, person.CJK_TRIGGER) if find_person or masker.ner else np.zeros(len(out), dtype=bool)
    rows = np.flatnonzero(cjk).tolist()
    by_finder: dict[int, list[pii.Span]] = {}
    if find_person is not None:  # in one batch: the tagger reads thousands of texts per call
        by_finder = dict(zip(rows, masker.person_finder.find_all([out[i] for i in rows]), strict=True))
    by_ner: dict[int, list[pii.Span]] = {}
    if masker.ner is not None:
        by_ner = dict(zip(rows, masker.ner.find_all([out[i] for i in rows]), strict=True))
    wanted = set(masker.entities)
    analyzed = 0
    for i, text in enumerate(out):
        if not text:
            continue
        guesses = by_finder.get(i, [])
        if find_person is not None:
            find_person.remember(text, guesses)
        entities = None
        if prefilter:
            entities = [e for e in pii.triggered_entities(text) if e in wanted] if hits[i] else []
            if guesses and person.ENTITY not in entities:
                entities.append(person.ENTITY)
        analyzed += entities is None or bool(entities)
        spans = masker.spans(text, entities)
        if by_ner.get(i):  # the model's names, except over a known member's name
            guesses = [*guesses, *by_ner[i]]
            more = person.without_overlaps(by_ner[i], masker.names.find(text))
            spans = pii.resolve_spans([*spans, *more])
        if spans:
            spans_of[i] = spans
            names.update(
                text[g.start : g.end]
                for g in guesses
                if any(s.entity == person.ENTITY and s.start <= g.start and g.end <= s.end for s in spans)
            )

    frequent = [n for n, c in names.items() if propagate_min_count and c >= propagate_min_count]
    given = [masker.person_finder.given_name(n) for n in frequent] if masker.person_finder else []
    propagated = sorted({*frequent, *filter(None, given)} - set(masker.names.labels))  # not members' names
    regex = pii.names_regex(propagated)
    if regex is not None:
        template = {pii.name_key(n): pii.Span(0, 0, person.ENTITY) for n in propagated}
        for i in np.flatnonzero(matches(out, "(?i)" + "|".join(map(re.escape, propagated)))):
            more = pii.find_names(out[i], regex, template)
            spans_of[i] = pii.resolve_spans([*spans_of[i], *person.without_overlaps(more, spans_of[i])])

    counts: Counter[str] = Counter()
    for i, spans in enumerate(spans_of):
        if spans:
            text = out[i]
            out[i] = pii.replace_spans(text, spans)
            counts.update(s.entity for s in spans)
            counts[AT_MENTION] += sum(
                1 for s in spans if s.entity == pii.SPEAKER and s.start and text[s.start - 1] == "@"
            )
    return Masked(out, spans_of, counts, analyzed, names, propagated)
