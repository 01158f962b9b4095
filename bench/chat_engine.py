"""Benchmark: the persona model through transformers (fp32) vs llama.cpp (GGUF, 16-bit and quantized).

    OMP_NUM_THREADS=1 python bench/chat_engine.py [--prompts 5] [--new-tokens 64] [--threads 1 2]

Reads the demo's `data/models/merge` and `data/models/chat_export` (run `dvc repro chat_export`
first). Every engine gets the same prompt ids (validation windows through `runtime.prompt.
encode_prompt`, the runtime's prompt path) and decodes greedily for `--new-tokens` tokens, end of
turn ignored, in its own process (so peak RSS is its own): time to first token, decode tokens/s,
peak RSS. Perplexity is chat_export's (validation replies, report.json). transformers fp32 is the
baseline, measured in the same run; ratios are against it. On a GPU pass --gpu-layers -1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORKER = """
import json, sys, time
sys.path.insert(0, {repo!r})
engine, path, threads, layers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts, new_tokens = json.loads(sys.argv[5]), int(sys.argv[6])
t0 = time.perf_counter()
if engine == "transformers":
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").eval()
    def run(ids):
        out, past, start = [], None, time.perf_counter()
        x = torch.tensor([ids])
        first = None
        with torch.inference_mode():
            for _ in range(new_tokens):
                o = model(x, past_key_values=past, use_cache=True)
                past = o.past_key_values
                tok = int(o.logits[0, -1].argmax())
                first = first or time.perf_counter() - start
                out.append(tok)
                x = torch.tensor([[tok]])
        return out, first, time.perf_counter() - start
else:
    from llama_cpp import Llama
    llm = Llama(path, n_ctx=1024, n_threads=threads, n_threads_batch=threads, n_gpu_layers=layers,
                verbose=False)
    def run(ids):
        out, start, first = [], time.perf_counter(), None
        llm.reset()
        for tok in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            first = first or time.perf_counter() - start
            out.append(tok)
            if len(out) == new_tokens:
                break
        return out, first, time.perf_counter() - start
load = time.perf_counter() - t0
run(prompts[0])  # warm-up
ttft, decode, tokens = [], [], []
for ids in prompts:
    out, first, total = run(ids)
    ttft.append(first)
    decode.append((len(out) - 1) / (total - first))
    tokens.append(out)
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print("RESULT " + json.dumps({{"load_s": load, "ttft_ms": 1000 * sum(ttft) / len(ttft),
      "decode_tok_s": sum(decode) / len(decode), "peak_rss_mb": rss, "tokens": tokens}}))
"""


def measure(engine: str, path: Path, threads: int, layers: int, prompts, new_tokens: int) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", WORKER.format(repo=str(REPO)), engine, str(path), str(threads), str(layers),
         json.dumps(prompts), str(new_tokens)],
        capture_output=True, text=True,
    )  # fmt: skip
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{engine} {path.name} failed:\n{r.stderr[-2000:]}")
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--gpu-layers", type=int, default=0)
    ap.add_argument("--data", type=Path, default=REPO / "data")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from pipelines.sft import read_jsonl
    from runtime.prompt import encode_prompt

    merged, export = args.data / "models/merge", args.data / "models/chat_export"
    report = json.loads((export / "report.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(merged)
    rows = read_jsonl(args.data / "processed/sft_data/val.jsonl")[: args.prompts]
    prompts = [encode_prompt(tokenizer, r["instruction"], r["input"], max_tokens=900).ids for r in rows]
    print(f"{len(prompts)} validation prompts of {min(map(len, prompts))}-{max(map(len, prompts))} tokens, "
          f"{args.new_tokens} greedy tokens each\n")  # fmt: skip
    engines = [("transformers fp32", "transformers", merged, report["merged"]["perplexity"])]
    engines += [(f"llama.cpp {f['level']}", "llama", export / name, f["perplexity"])
                for name, f in report["files"].items()]  # fmt: skip

    print(f"{'engine':<22}{'thr':>4}{'MB file':>9}{'TTFT ms':>9}{'tok/s':>8}{'x base':>8}{'RSS MB':>8}"
          f"{'ppl':>8}{'same tok':>10}")  # fmt: skip
    for threads in args.threads:
        base = None
        for label, engine, path, ppl in engines:
            r = measure(engine, path, threads, args.gpu_layers, prompts, args.new_tokens)
            size = (
                sum(p.stat().st_size for p in path.glob("*.safetensors"))
                if path.is_dir()
                else path.stat().st_size
            )
            base = base or r
            same = sum(
                next((i for i, (a, b) in enumerate(zip(x, y, strict=True)) if a != b), len(x))
                for x, y in zip(r["tokens"], base["tokens"], strict=True)
            ) / len(prompts)
            print(f"{label:<22}{threads:>4}{size / 2**20:>9.0f}{r['ttft_ms']:>9.0f}{r['decode_tok_s']:>8.1f}"
                  f"{r['decode_tok_s'] / base['decode_tok_s']:>8.2f}{r['peak_rss_mb']:>8.0f}{ppl:>8.3f}"
                  f"{same:>10.1f}")  # fmt: skip
            time.sleep(0.5)
    print("\nsame tok: greedy tokens equal to transformers' before the first difference (mean per prompt)")


if __name__ == "__main__":
    main()
