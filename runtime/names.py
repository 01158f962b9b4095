"""Names of people in chat text become the placeholders the model was trained on, the same way in
training (`anonymize`) and in a live chat (`runtime.generator.to_window`).

Both sides find names with `runtime.pii.find_names` (one case-insensitive regex, longest name
first, Latin word boundaries that also work next to CJK), resolve overlaps with `resolve_spans` and
replace with `replace_spans`. What differs is where the names come from:

- training: every name each member was seen or configured under, in clear (private data);
- live: the display names of the chat's senders (the runtime sees them anyway), the persona's
  names typed on the Windows machine (`--persona-name`), and the persona's names kept in the bundle
  as salted hashes (`HashedNames`), never in clear. A hashed name cannot go into a regex, so every
  substring of a length some persona name has is hashed and looked up, with the same boundary rule.

Other people's names in free text go the same way on both sides too: the person finder
(runtime/person.py) with the model anonymize built, then, as anonymize's second pass, the names it
masked wherever they were written (the bundle has them as salted hashes, `<PERSON>`).

Salted hashes keep the names out of sight of anyone reading the bundle; they do not stop a
dictionary attack on short names by someone holding the bundle (the salt is in it). A family that
wants no trace of the names builds with `package.persona_names=false` and passes `--persona-name`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from runtime import person, pii
from runtime.person import PersonFinder
from runtime.prompt import TARGET

FORMAT = 1


def usable(name: str, min_chars: int, ignore: Iterable[str] = ()) -> bool:
    """Names shorter than `min_chars` would hit ordinary words; `ignore` lists names that are also
    ordinary words in these chats. The rule anonymize applies to names in text."""
    key = pii.name_key(name)
    return len(key) >= min_chars and key not in {pii.name_key(n) for n in ignore}


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}\n{key}".encode()).hexdigest()


@dataclass(frozen=True)
class HashedNames:
    """Names as salted hashes: `find(text)` -> spans of `entity` replaced by `label` (the persona's:
    SPEAKER, <TARGET>; other people's: PERSON, <PERSON>)."""

    salt: str
    digests: frozenset[str]
    lengths: tuple[int, ...]  # the lengths (in characters of the name key) that occur
    entity: str = pii.SPEAKER
    label: str = TARGET

    @classmethod
    def build(
        cls, names: Iterable[str], min_chars: int = 2, ignore: Iterable[str] = (), salt: str | None = None,
        entity: str = pii.SPEAKER, label: str = TARGET,
    ):  # fmt: skip
        keys = {pii.name_key(n) for n in names if usable(n, min_chars, ignore)}
        keys = {k for k in keys if len(k) <= pii.MAX_NAME_CHARS}
        salt = salt or secrets.token_hex(16)
        lengths = tuple(sorted({len(k) for k in keys}))
        return cls(salt, frozenset(_digest(salt, k) for k in keys), lengths, entity, label)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "salt": self.salt,
            "digests": sorted(self.digests),
            "lengths": list(self.lengths),
            "entity": self.entity,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, d: dict) -> HashedNames:
        if d.get("format") != FORMAT:
            raise ValueError(f"hashed names format {d.get('format')}, this runtime reads {FORMAT}")
        entity, label = d.get("entity", pii.SPEAKER), d.get("label", TARGET)  # older bundles: the persona's
        return cls(d["salt"], frozenset(d["digests"]), tuple(d["lengths"]), entity, label)

    def find(self, text: str) -> list[pii.Span]:
        """Every occurrence of a name (overlaps are left to `resolve_spans`)."""
        lowered = text.lower()
        if len(lowered) != len(text):  # a rare character whose lower case is longer: no safe offsets
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        out = []
        for n in self.lengths:
            for start in range(len(text) - n + 1):
                key = lowered[start : start + n]
                if key != key.strip():
                    continue
                # the regex's boundary: a name starting/ending with a Latin letter or digit must not
                # be part of a longer Latin word
                if pii.latin_edge(key[0]) and start > 0 and pii.latin_edge(text[start - 1]):
                    continue
                if pii.latin_edge(key[-1]) and start + n < len(text) and pii.latin_edge(text[start + n]):
                    continue
                if _digest(self.salt, key) in self.digests:
                    out.append(pii.Span(start, start + n, self.entity, 1.0, self.label))
        return out


class LiveNames:
    """Names in a live window -> placeholders: the senders' display names (clear, from the chat)
    and the persona's (hashed from the bundle and/or typed at run time); with the PII types
    training masked (anonymize.entities), other people's names by the person finder, and, as
    anonymize's second pass, the names anonymize masked wherever they were written (`outsiders`)."""

    def __init__(self, labels: dict[str, str], persona: HashedNames | None = None, min_chars: int = 2,
                 entities: tuple[str, ...] = pii.ENTITIES, finder: PersonFinder | None = None,
                 outsiders: HashedNames | None = None):  # fmt: skip
        usable_labels = {k: ph for k, ph in labels.items() if len(k) >= min_chars}  # name key -> placeholder
        self.regex = pii.names_regex(usable_labels)
        self.templates = {k: pii.Span(0, 0, pii.SPEAKER, 1.0, ph) for k, ph in usable_labels.items()}
        self.persona, self.patterns = persona, pii.patterns_for(entities)
        self.finder = finder if finder is not None and person.ENTITY in entities else None
        self.outsiders = outsiders

    def spans(self, text: str) -> list[pii.Span]:
        """Names and PII found and resolved together as anonymize does (a known name wins over an
        overlapping PERSON guess), then the outsiders' names where nothing else was found."""
        found = pii.find_spans(text, self.patterns)
        if self.finder is not None:
            found += self.finder.find(text)
        known = pii.find_names(text, self.regex, self.templates)
        if self.persona is not None:
            known += self.persona.find(text)
        spans = pii.resolve_spans([*person.without_overlaps(found, known), *known])
        if self.outsiders is not None:
            more = self.outsiders.find(text)
            spans = pii.resolve_spans([*spans, *person.without_overlaps(more, spans)])
        return spans

    def anonymize(self, text: str) -> str:
        return pii.replace_spans(text, self.spans(text))
