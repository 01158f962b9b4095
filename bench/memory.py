"""Benchmark: memory index build time and query latency at 10k and 100k snippets.

    OMP_NUM_THREADS=2 python bench/memory.py [--sizes 10000 100000] [--queries 200] [--encode 2000]

Synthetic snippets shaped like the demo's (3-4 chat lines of mixed English and Chinese, ~25 words)
drawn from a seeded vocabulary with a Zipf-like word distribution. Measured per size, in one run:
- build: BM25 postings (`Lexical.build`) and writing the index folder;
- encode: the dense encoder (all-MiniLM-L6-v2 from its wheel) on `--encode` snippets, extrapolated
  to the whole size (the 100k encode would take many minutes here; the rate is what matters);
- query latency p50/p95 for lexical, dense and hybrid search (`MemoryIndex.search`, query vectors
  precomputed, so retrieval itself is timed) plus the query encoding alone, with torch and in numpy
  (runtime/encoder.py: a runtime without torch);
- the baseline: brute-force dense search as usually written (float32 matrix-vector product over
  every snippet, then a full argsort), on the same vectors and queries.
Dense vectors for the timing are random unit vectors of the encoder's size (384), one per snippet
line as the index stores them (a snippet scores its best line): speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime.encoder import Embedder  # noqa: E402
from runtime.memory import (  # noqa: E402
    Lexical,
    MemoryIndex,
    Snippet,
    content_text,
    lines_of,
    tokens,
    write_index,
)

WORDS = (
    "grandma cat mochi dinner soup dumplings rain umbrella exam garden sunflower jasmine basil knee "
    "doctor medicine bus video call weekend mum uncle graduation june guilin october club wednesday "
    "teacher music erhu suzhou canal house tea sweater butterfly tomato noodles pancake festival red "
    "packet money shoes dress hospital walk park market price vegetables fish pork birthday cake "
    "photo phone battery charger wifi password movie song dance square neighbour weather cold hot "
    "wind snow spring summer autumn "
)
EN = WORDS.split()
ZH = list(
    "外婆吃饭了吗今天好冷又胖周末回来我到家哈记得药哦明天下雨带伞晚安红烧肉酒酿圆子拿手菜花园向日葵茉莉猫咪"
)


def synthetic_snippets(n: int, seed: int = 0) -> list[Snippet]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(EN))]  # Zipf-like: a few words are everywhere

    def line() -> str:
        words = rng.choices(EN, weights, k=rng.randint(3, 9))
        if rng.random() < 0.4:
            words.append("".join(rng.choices(ZH, k=rng.randint(2, 6))))
        return " ".join(words)

    out = []
    for i in range(n):
        lines = [f"{'<TARGET>' if j % 2 else '<PERSON>'}: {line()}" for j in range(rng.randint(3, 4))]
        out.append(
            Snippet(f"s{i}", "C1", f"C1:{i // 3}", "2026-03-01", float(i), ["<TARGET>"], " / ".join(lines))
        )
    return out


def queries(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(EN, k=rng.randint(4, 10))) for _ in range(n)]


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
    return out


def brute_force_dense(vectors: np.ndarray, offsets: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    """The baseline: score every line, take each snippet's best, sort everything."""
    return np.argsort(-np.maximum.reduceat(vectors @ q, offsets[:-1]))[:k].tolist()


def latencies(index: MemoryIndex, vectors, offsets, pairs: list, k: int) -> dict[str, list[float]]:
    """Seconds per query for the baseline and each search mode (query vectors precomputed)."""
    search = {"candidates": 50, "min_similarity": -1.0}
    return {
        "brute-force dense (baseline)": timed(lambda p: brute_force_dense(vectors, offsets, p[1], k), pairs),
        "lexical": timed(lambda p: index.search(p[0], k, "lexical", **search), pairs),
        "dense": timed(lambda p: index.search(p[0], k, "dense", query_vector=p[1], **search), pairs),
        "hybrid": timed(lambda p: index.search(p[0], k, "hybrid", query_vector=p[1], **search), pairs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--encode", type=int, default=2000, help="snippets encoded to measure the encoder rate")
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()

    from pipelines.memory import _from_wheel
    from pipelines.stage import compose_config

    folder = _from_wheel(compose_config().memory.embedder)
    qs = queries(args.queries)
    # the runtime embeds one query per reply: with torch (baseline), and in numpy (a runtime installed
    # without torch), same folder, same queries
    per_query, vectors_by = {}, {}
    for backend in ("torch", "numpy"):
        encoder = Embedder(folder, backend=backend)
        t = time.perf_counter()
        vectors_by[backend] = encoder.encode(qs, batch_size=1)
        per_query[backend] = (time.perf_counter() - t) / len(qs) * 1000
    gap = float(np.abs(vectors_by["numpy"] - vectors_by["torch"]).max())
    torch_ms, numpy_ms = per_query["torch"], per_query["numpy"]
    print(f"query encoding (MiniLM, batch 1): torch {torch_ms:.1f} ms, numpy {numpy_ms:.1f} ms per query "
          f"({numpy_ms / torch_ms:.2f}x torch); largest difference {gap:.1e}")  # fmt: skip
    encoder, qvecs = Embedder(folder, backend="torch"), vectors_by["torch"]

    rows = []
    for n in args.sizes:
        snippets = synthetic_snippets(n)
        per_snippet = [len(lines_of(s.text)) for s in snippets]
        offsets = np.concatenate([[0], np.cumsum(per_snippet)])
        sample = [line for s in snippets[: args.encode] for line in lines_of(s.text)]
        t = time.perf_counter()
        encoder.encode(sample, batch_size=64)
        encode_rate = args.encode / (time.perf_counter() - t)  # snippets (all their lines) per second
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((int(offsets[-1]), encoder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

        t = time.perf_counter()
        Lexical.build([tokens(content_text(s.text)) for s in snippets])
        lexical_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_index(Path(tmp), snippets, vectors, {}, dense_lines=offsets)
            write_s = time.perf_counter() - t
            t = time.perf_counter()
            index = MemoryIndex.load(tmp, dense=False)
            load_s = time.perf_counter() - t
        index.dense, index.dense_lines, index.embedder = vectors, offsets, encoder  # as load(dense=True)

        lat = latencies(index, vectors, offsets, list(zip(qs, qvecs, strict=True)), args.k)
        base50, _ = percentiles(lat["brute-force dense (baseline)"])
        print(
            f"\n{n:,} snippets: BM25 build {lexical_s:.2f} s, write (BM25 + files) {write_s:.2f} s, "
            f"load {load_s:.2f} s; encoder {encode_rate:.0f} snippets/s -> {n / encode_rate:.0f} s to embed"
        )
        for name, seconds in lat.items():
            p50, p95 = percentiles(seconds)
            print(f"  {name:30s} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({p50 / base50:.2f}x baseline p50)")
            rows.append((n, name, p50, p95, p50 / base50))
        rows.append((n, "build", lexical_s, write_s, n / encode_rate))
    print("\n| snippets | search | p50 ms | p95 ms | p50 vs baseline |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n, name, a, b, c in rows:
        if name != "build":
            print(f"| {n:,} | {name} | {a:.2f} | {b:.2f} | {c:.2f}x |")


if __name__ == "__main__":
    main()
