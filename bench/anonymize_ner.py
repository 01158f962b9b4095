"""Benchmark: what the optional NER model (`anonymize.person.ner`) costs next to the person finder.

    python bench/anonymize_ner.py [--messages 512] [--threads 2] [--layers 12]

No Chinese NER model ships in a package registry, so this times the code path with a random model
of bert-base-chinese's shape (12 layers, 768 wide, a 21k-character vocabulary): the speed of a
token classifier does not depend on its weights, its quality does (not measured here). Same
messages, same run: the person finder alone (the baseline, what the stage runs by default) and the
NER model's batched `find_all`; per message and extrapolated to a million Chinese messages.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.anonymize import labelled, person_model  # noqa: E402
from pipelines.anonymize.ner import NerModel  # noqa: E402
from runtime.person import PersonFinder  # noqa: E402

ANONYMIZE = OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml")
CJK = range(0x4E00, 0x9FA6)  # the common CJK block, as in bert-base-chinese's vocabulary


def random_bert(folder: Path, layers: int) -> Path:
    """A BertForTokenClassification of bert-base-chinese's shape with random weights."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *map(chr, CJK), *"，。！？、：；0123456789"]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    labels = dict(enumerate(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]))
    config = BertConfig(vocab_size=len(vocab), num_hidden_layers=layers, id2label=labels)
    BertForTokenClassification(config).save_pretrained(folder)
    return folder


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=12)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    texts = [m.text for split in labelled.SPLITS for m in labelled.labelled_messages(split=split)]
    texts = (texts * (args.messages // len(texts) + 1))[: args.messages]
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} labelled-set messages, {chars:.1f} characters on average, {args.threads} threads")

    finder = PersonFinder(person_model.build(ANONYMIZE.person))
    finder_s = timed(lambda: [finder.find(t) for t in texts])
    with tempfile.TemporaryDirectory() as tmp:
        folder = random_bert(Path(tmp) / "ner", args.layers)
        ner = NerModel.load(OmegaConf.merge(ANONYMIZE.person.ner, {"model": str(folder)}))
        ner.find_all(texts[:32])  # warm-up: first-call allocations
        ner_s = timed(lambda: ner.find_all(texts))

    rows = [("person finder (baseline)", finder_s), (f"NER model, {args.layers} layers, batch 32", ner_s)]
    print(f"| {'recogniser':<34} | us/message | msgs/s | 1M messages | vs finder |")
    for name, seconds in rows:
        per = seconds / len(texts)
        print(
            f"| {name:<34} | {per * 1e6:>10.0f} | {1 / per:>6.0f} | {per * 1e6 / 60:>8.1f} min "
            f"| {seconds / finder_s:>8.1f}x |"
        )


if __name__ == "__main__":
    main()
