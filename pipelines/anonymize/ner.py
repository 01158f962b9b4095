"""An optional local NER model for names of people (conf/anonymize `person.ner`): a token
classification model folder the user already has (a Chinese BERT fine-tuned for NER), run over
the messages in batches next to the person finder, its PERSON spans masked like the finder's.

Off by default: no such model ships in a package registry, and the finder needs none. A model
catches names the finder cannot read (given names alone, names that are also words) at the cost of
torch inference over every message with Chinese in it: a bert-base-sized model takes ~18 ms per
short message on 2 CPU cores, ~5 hours per million messages, 500x the finder (bench/anonymize_ner.py),
so it runs on the GPU when there is one (`device: auto`). The runtime's live windows use the finder
only (no torch there).

Labels are read from the model's config (`id2label`): BIO, BIOES/BMES or plain tags; the entity
types that mean a person (PER, PERSON, name, nr...) come from the config, so any such model works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.stage import StageError
from runtime import person, pii

WHERE_TO_GET = (
    "download a token-classification model for Chinese NER (e.g. from the Hugging Face hub) on a "
    "machine with internet and copy its folder here, or set anonymize.person.ner.model=null"
)
PREFIXES = ("B", "I", "M", "E", "S")  # BIO, BIOES, BMES; "B-PER" or "B_PER"


def tag_of(label: str) -> tuple[str, str]:
    """(position, type) of a label: B-PER -> (B, PER), S_name -> (S, name), PER -> (I, PER), O -> (O, "")."""
    if label.upper() == "O":
        return "O", ""
    head, sep, tail = label.replace("_", "-").partition("-")
    if sep and head.upper() in PREFIXES:
        return head.upper(), tail
    return "I", label


def decode(labels: Sequence[str], probs: Sequence[float], offsets: Sequence[tuple[int, int]],
           wanted: set[str], min_score: float) -> list[pii.Span]:  # fmt: skip
    """Character spans of the wanted entity types from one sequence's predicted labels.

    A span starts at B/S, or at I/M/E after anything of another type (a model's stray I- still
    counts), continues over I/M/E of its type and ends after E or S. Tokens without characters
    (special tokens, padding: offsets (0, 0)) end a span. Its score is the mean probability of its
    tokens' labels; spans below `min_score` are dropped."""
    spans, start, end, kind, scores = [], None, 0, "", []

    def close():
        if start is not None and kind.lower() in wanted and (score := float(np.mean(scores))) >= min_score:
            spans.append(pii.Span(start, end, person.ENTITY, round(score, 3)))

    for label, p, (a, b) in zip(labels, probs, offsets, strict=True):
        position, kind_here = tag_of(label)
        if b <= a or position == "O":
            close()
            start = None
            continue
        if start is None or position in ("B", "S") or kind_here != kind:
            close()
            start, kind, scores = a, kind_here, []
        end = b
        scores.append(p)
        if position in ("E", "S"):
            close()
            start = None
    close()
    return spans


@dataclass
class NerModel:
    """A local token-classification model and how to read its labels. `find_all` is the interface
    the masker uses; tests stand in anything with it."""

    tokenizer: object
    model: object
    wanted: set[str]  # entity types that are a person, lower case
    min_score: float
    batch_size: int
    max_tokens: int

    @classmethod
    def load(cls, settings) -> NerModel | None:
        """`settings`: conf/anonymize `person.ner`; None when no model folder is configured."""
        if not settings.model:
            return None
        folder = Path(settings.model)
        if not (folder / "config.json").is_file():
            raise StageError(f"NER model: {folder / 'config.json'} not found ({WHERE_TO_GET})")
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as e:
            raise StageError(f"NER model: no tokenizer in {folder} ({e}); {WHERE_TO_GET}") from e
        if not tokenizer.is_fast:
            raise StageError(
                f"NER model: {folder} has no fast tokenizer (tokenizer.json): character offsets need "
                "one; load and save the tokenizer with transformers to write it"
            )
        try:
            model = AutoModelForTokenClassification.from_pretrained(folder, local_files_only=True)
        except OSError as e:
            raise StageError(f"NER model: no weights in {folder} ({e}); {WHERE_TO_GET}") from e
        wanted = {t.lower() for t in settings.labels}
        types = {tag_of(label)[1] for label in model.config.id2label.values()} - {""}
        if not {t.lower() for t in types} & wanted:
            raise StageError(
                f"NER model {folder}: none of its entity types {sorted(types)} is in "
                f"anonymize.person.ner.labels {sorted(settings.labels)}: add the one that means a person"
            )
        device = settings.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            model = model.to(device)
        except (RuntimeError, ValueError, AssertionError) as e:  # no such device; torch without CUDA
            msg = f"NER model: device {device!r} ({e}); set anonymize.person.ner.device=auto"
            raise StageError(msg) from e
        s = settings
        # a window no longer than the model has positions for (some small models have 64 or 128)
        window = min(s.max_tokens, getattr(model.config, "max_position_embeddings", None) or s.max_tokens)
        return cls(tokenizer, model.eval(), wanted, s.min_score, s.batch_size, window)

    def find_all(self, texts: Sequence[str]) -> list[list[pii.Span]]:
        """PERSON spans per text. Texts go in batches of similar length; a text longer than the
        model's window is read in overlapping windows and their spans merged."""
        import torch

        out: list[list[pii.Span]] = [[] for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        id2label = self.model.config.id2label
        for first in range(0, len(order), self.batch_size):
            batch = order[first : first + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in batch],
                truncation=True,
                max_length=self.max_tokens,
                stride=self.max_tokens // 4,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding=True,
                return_tensors="pt",
            )
            offsets = enc.pop("offset_mapping").tolist()
            owner = enc.pop("overflow_to_sample_mapping").tolist()
            with torch.inference_mode():
                probs = self.model(**enc.to(self.model.device)).logits.softmax(-1)
            best, ids = (t.cpu() for t in probs.max(-1))
            for row, sample in enumerate(owner):
                labels = [id2label[int(k)] for k in ids[row]]
                found = decode(labels, best[row].tolist(), offsets[row], self.wanted, self.min_score)
                out[batch[sample]] += found
        return [pii.resolve_spans(spans) for spans in out]  # overlapping windows found some twice
