"""Benchmark: a 1,000,000-message export through ingest -> anonymize -> sft_data.

    OMP_NUM_THREADS=1 python bench/text_pipeline.py [--messages 1000000] [--baseline-sample 20000]

The export is the demo persona's (all formats, all kinds, seeded PII) stretched over as many days
as it takes. Each stage runs as its own process (`python -m pipelines.<stage> paths.data=…`);
we report wall time, messages/s and peak RSS per stage. Baseline, measured in the same run: the
straightforward anonymizer, one `AnalyzerEngine.analyze` call per message, timed on a random
sample of the same ingested messages and extrapolated to all of them.
Goal (issue 2): the whole path under 60 s on 2 cores, peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEMO_MESSAGES_PER_DAY = 3824 / 150  # measured on the default demo (seed 7)

# Runs one stage in a child and prints its wall time and peak RSS (KiB on Linux) as JSON.
CHILD = """
import json, resource, runpy, sys, time
module, args = sys.argv[1], sys.argv[2:]
sys.argv = [module, *args]
t = time.perf_counter()
try:
    runpy.run_module(module, run_name="__main__")
finally:
    print("BENCH " + json.dumps({"seconds": time.perf_counter() - t,
          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
"""


def run_stage(module: str, data: Path, *overrides: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", CHILD, module, f"paths.data={data}", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        sys.exit(f"{module} failed:\n{r.stderr[-3000:]}")
    line = next(x for x in r.stdout.splitlines() if x.startswith("BENCH "))
    return json.loads(line.removeprefix("BENCH "))


def baseline(data: Path, sample: int) -> float:
    """Messages/s of one presidio `analyze` call per message (the obvious implementation)."""
    from pipelines.anonymize.recognizers import build_engine

    texts = pd.read_parquet(data / "interim/ingest/messages.parquet", columns=["text"])["text"]
    texts = texts.sample(min(sample, len(texts)), random_state=0).tolist()
    engine = build_engine()
    engine.analyze("warm up 13812345678", language="zh")
    t = time.perf_counter()
    for text in texts:
        engine.analyze(text, language="zh")
    return len(texts) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--baseline-sample", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench/out/text_pipeline")
    args = ap.parse_args()
    data = args.out / "data"
    shutil.rmtree(args.out, ignore_errors=True)

    days = math.ceil(args.messages / DEMO_MESSAGES_PER_DAY)
    gen = run_stage("pipelines.demo_data", data, f"demo_data.days={days}")
    rows = {}
    for stage in ("ingest", "anonymize", "sft_data"):
        rows[stage] = run_stage(f"pipelines.{stage}", data)
    n = len(pd.read_parquet(data / "interim/ingest/messages.parquet", columns=["kind"]))
    base = baseline(data, args.baseline_sample)

    total = sum(r["seconds"] for r in rows.values())
    print(f"\n{n:,} messages ({days} demo days; generating the export took {gen['seconds']:.1f} s)\n")
    print(f"{'stage':<12}{'seconds':>9}{'msgs/s':>12}{'peak RSS MB':>13}")
    for stage, r in rows.items():
        print(f"{stage:<12}{r['seconds']:>9.1f}{n / r['seconds']:>12,.0f}{r['peak_rss_mb']:>13,.0f}")
    print(
        f"{'total':<12}{total:>9.1f}{n / total:>12,.0f}{max(r['peak_rss_mb'] for r in rows.values()):>13,.0f}"
    )
    anon = n / rows["anonymize"]["seconds"]
    print(
        f"\nbaseline: per-message AnalyzerEngine.analyze, {base:,.0f} msgs/s on a {args.baseline_sample:,} "
        f"sample -> {n / base:.0f} s for all {n:,} messages"
    )
    print(
        f"anonymize stage vs baseline: {anon / base:.1f}x the throughput"
        " (whole stage incl. I/O vs analyze alone)"
    )


if __name__ == "__main__":
    main()
