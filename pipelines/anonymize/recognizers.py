"""Presidio recognizers built from `runtime.pii` (one definition of every PII shape), and the
offline analyzer engine that runs them.

No spaCy model exists offline for Chinese (see stack notes), and the recognizers need none: the
engine runs on presidio's no-op NLP engine. Every recognizer is registered for "zh" and also
covers the English spellings (Dr. Liu, 12 Garden Road), so mixed messages need one pass.
Names of people in free text (张伟 in 我昨天见了张伟) are a PERSON recognizer too: `PersonRecognizer`
runs `runtime.person.PersonFinder`, the finder the runtime uses on live windows.
Names of known people (members, excluded speakers, the configured deny-list) are not presidio's job here: they
come from the data, map to per-person placeholders, and go through one trie regex
(`speakers.NameIndex`); presidio's deny-list regex needs non-word characters around a name,
which Chinese text does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from presidio_analyzer import AnalyzerEngine, LocalRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from runtime import person, pii

LANGUAGE = "zh"


class PiiPatternRecognizer(LocalRecognizer):
    """One entity type of `runtime.pii`: its compiled patterns, value groups and validators as they
    are, so presidio and the light runtime can never disagree about what a phone number is."""

    def __init__(self, entity: str, patterns: Sequence[pii.PiiPattern]):
        self.patterns = tuple(patterns)
        super().__init__(
            supported_entities=[entity], supported_language=LANGUAGE, name=f"still_{entity.lower()}"
        )

    def load(self) -> None:  # nothing to load: the patterns are compiled at import
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        return [
            RecognizerResult(s.entity, s.start, s.end, s.score) for s in pii.find_spans(text, self.patterns)
        ]


class PersonRecognizer(LocalRecognizer):
    """Names of people in Chinese free text, by the runtime's finder (runtime/person.py). `find` is
    the finder's `find`, or a cached wrapper of it shared with the caller's pre-check."""

    def __init__(self, find: Callable[[str], list[pii.Span]]):
        self.find = find
        super().__init__(supported_entities=[person.ENTITY], supported_language=LANGUAGE, name="still_person")

    def load(self) -> None:  # the model is loaded by whoever built the finder
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        return [RecognizerResult(s.entity, s.start, s.end, s.score) for s in self.find(text)]


@lru_cache(maxsize=4)
def build_engine(
    entities: tuple[str, ...] = pii.ENTITIES, find_person: Callable[[str], list[pii.Span]] | None = None
) -> AnalyzerEngine:
    """An offline analyzer with one recognizer per entity type, plus the person finder's when
    `find_person` is given and PERSON is wanted. Cached: tests and benchmarks share one engine."""
    recognizers: list[LocalRecognizer] = [PiiPatternRecognizer(e, pii.patterns_for([e])) for e in entities]
    if find_person is not None and person.ENTITY in entities:
        recognizers.append(PersonRecognizer(find_person))
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
    nlp = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=[LANGUAGE])


def analyze(engine: AnalyzerEngine, text: str, entities: Sequence[str] | None = None) -> list[pii.Span]:
    """Presidio's findings in one text as `runtime.pii` spans (unresolved; overlaps possible).
    `entities` limits the recognizers that run (None: all)."""
    results = engine.analyze(text, language=LANGUAGE, entities=list(entities) if entities else None)
    return [pii.Span(r.start, r.end, r.entity_type, r.score) for r in results]
