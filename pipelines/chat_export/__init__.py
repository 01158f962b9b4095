"""Stage `chat_export`: the merged persona model as GGUF files for llama.cpp, verified.

    python -m pipelines.chat_export [chat_export.levels=[Q8_0,Q4_K_M]] [chat_export.serve=Q8_0]

1. llama.cpp's converter (`convert_hf_to_gguf.py`, from llama-cpp-python's source: .ci/setup) writes
   the 16-bit file; its embedded chat template and end-of-turn token must be the tokenizer's.
2. The 16-bit file must compute what the merged model computes: greedy continuations of validation
   prompts (encoded by `runtime.prompt.encode_prompt`, the one prompt path) are compared token by
   token; a split is allowed only where transformers' two best logits tie (`check.tie_gap`).
3. Each level of `levels` is quantized from it (llama.cpp's quantizer, through llama-cpp-python).
4. Every file's validation loss on the reply tokens is measured next to the merged model's, so the
   report says what each level costs; an Ollama Modelfile and an LM Studio note go beside them.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from pipelines.stage import StageError
from runtime.bundle import MODEL_INFO
from runtime.prompt import encode_example, encode_prompt

log = logging.getLogger("still.chat_export")

LEVELS = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")  # llama.cpp's names
SIXTEEN_BIT = ("f16", "bf16")


def converter_path(cfg: DictConfig) -> Path:
    path = Path(
        cfg.chat_export.converter or Path(sys.prefix) / "share" / "llama.cpp" / "convert_hf_to_gguf.py"
    )
    if not path.is_file():
        raise StageError(
            f"{path} not found: llama.cpp's converter comes with llama-cpp-python's source; run "
            "`bash .ci/setup` (it keeps a copy in .venv/share/llama.cpp) or set chat_export.converter to "
            "convert_hf_to_gguf.py of a llama.cpp checkout"
        )
    return path


def file_name(cfg: DictConfig, level: str) -> str:
    return f"{cfg.chat_export.name}-{level}.gguf"


def sixteen_bit(cfg: DictConfig, model_dir: Path) -> str:
    if cfg.chat_export.outtype != "auto":
        return str(cfg.chat_export.outtype)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return "bf16" if (config.get("torch_dtype") or config.get("dtype")) == "bfloat16" else "f16"


def convert(converter: Path, model_dir: Path, out_file: Path, outtype: str) -> None:
    """HF folder -> one GGUF file (llama.cpp's converter, in a child process: it imports its own gguf)."""
    r = subprocess.run(
        [sys.executable, str(converter), str(model_dir.resolve()), "--outtype", outtype, "--outfile",
         str(out_file.resolve())],
        capture_output=True, text=True, encoding="utf-8", errors="replace",
    )  # fmt: skip
    if r.returncode or not out_file.is_file():
        raise StageError(f"llama.cpp's converter failed on {model_dir}:\n{r.stderr[-3000:]}")


def quantize(src: Path, dst: Path, level: str, threads: int) -> None:
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{level}", None)
    if level not in LEVELS or ftype is None:
        raise StageError(f"chat_export.levels: {level!r} is not a llama.cpp quantization type; use {LEVELS}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = ftype, threads
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) != 0:
        raise StageError(f"llama.cpp could not quantize {src} to {level}")


def metadata(path: Path) -> dict:
    """What a GGUF file says about how it is prompted."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields

    def value(key: str):
        field = fields.get(key)
        if field is None:
            return None
        part = field.parts[field.data[0]]
        return bytes(part).decode("utf-8") if part.dtype == np.uint8 else part[0].item()

    return {
        k: value(f"tokenizer.{k}") for k in ("chat_template", "ggml.eos_token_id", "ggml.bos_token_id")
    } | {"architecture": value("general.architecture")}


def template_problems(meta: dict, tokenizer) -> list[str]:
    """Why llama.cpp (and Ollama / LM Studio, which read the same fields) would prompt the file
    differently from the runtime's tokenizer."""
    problems = []
    if meta["chat_template"] != tokenizer.chat_template:
        problems.append("the embedded chat template is not the tokenizer's")
    if meta["ggml.eos_token_id"] != tokenizer.eos_token_id:
        problems.append(
            f"end-of-turn token {meta['ggml.eos_token_id']} is not the tokenizer's {tokenizer.eos_token_id}"
        )
    return problems


# ---------------------------------------------------------------------------- engines side by side


def open_gguf(path: Path, n_ctx: int, threads: int):
    from llama_cpp import Llama

    return Llama(
        str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, logits_all=True, verbose=False
    )


def gguf_logits(llm, ids: list[int]) -> np.ndarray:
    """Logits after every position of `ids` (a fresh context each time)."""
    llm.reset()
    llm.eval(ids)
    return np.asarray(llm.scores[: len(ids)], dtype=np.float32)


def hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(torch.tensor([ids], device=model.device)).logits[0].float().cpu().numpy()


@dataclass(frozen=True)
class Split:
    same: int  # tokens generated alike before the first difference (== new_tokens: none)
    gap: float | None  # transformers' top-1 minus top-2 logit where they split


def greedy_split(logits_a, logits_b, prompt: list[int], new_tokens: int) -> Split:
    """Greedy continuations of `prompt` under two models (functions ids -> logits), compared."""
    ids = list(prompt)
    for step in range(new_tokens):
        a, b = logits_a(ids)[-1], logits_b(ids)[-1]
        top_a, top_b = int(a.argmax()), int(b.argmax())
        if top_a != top_b:
            first, second = np.sort(a)[-2:][::-1]
            return Split(step, round(float(first - second), 4))
        ids.append(top_a)
    return Split(new_tokens, None)


def reply_loss(logits_of, samples) -> float:
    """Mean negative log-likelihood of the reply tokens (training's loss) over encoded examples."""
    total, count = 0.0, 0
    for ex in samples:
        logits = logits_of(ex.input_ids).astype(np.float64)
        log_probs = logits - logits.max(axis=1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
        for pos in range(1, len(ex.input_ids)):
            if ex.completion_mask[pos]:
                total -= log_probs[pos - 1, ex.input_ids[pos]]
                count += 1
    return total / max(count, 1)


# ---------------------------------------------------------------------------- for other apps


OLLAMA_CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


def modelfile(gguf_name: str, instruction: str, generation: dict, chat_template: str, stop: str) -> str:
    """An Ollama Modelfile: the file, the persona instruction as system prompt, the stop token and
    the reference decoding. Ollama writes templates in Go, not Jinja: a ChatML template is given as
    such; any other is left to the one Ollama derives from the GGUF (check it: a wrong template
    gives garbage)."""
    lines = [
        "# ollama create persona -f Modelfile   (run in this folder)",
        "# The model expects Still's window format in the user turn: one line per message,",
        "# '<U1>: text'. Outside Still nothing masks names or PII and there is no memory or reply policy.",
        f"FROM ./{gguf_name}",
    ]
    if "<|im_start|>" in chat_template:
        lines.append(f'TEMPLATE """{OLLAMA_CHATML}"""')
    else:
        lines.append("# TEMPLATE: taken from the chat template embedded in the GGUF (not ChatML)")
    lines += [f'SYSTEM """{instruction}"""', f'PARAMETER stop "{stop}"']
    names = {"temperature": "temperature", "top_p": "top_p", "repetition_penalty": "repeat_penalty",
             "max_new_tokens": "num_predict"}  # fmt: skip
    lines += [f"PARAMETER {names[k]} {generation[k]}" for k in names if generation.get(k) is not None]
    return "\n".join(lines) + "\n"


def lm_studio_note(files: list[str], instruction: str, generation: dict, stop: str) -> str:
    return "\n".join([
        "# The persona model in LM Studio",
        "",
        f"Load one of {', '.join(files)} (My Models -> import). The chat template is embedded in the file;",
        "LM Studio reads it. Set:",
        "",
        f"- System prompt: `{instruction}`",
        f"- Stop string: `{stop}`",
        *(f"- {k}: {v}" for k, v in generation.items() if k in ("temperature", "top_p", "repetition_penalty",
                                                                "max_new_tokens") and v is not None),
        "",
        "Write the user turn in Still's window format, one line per message (`<U1>: text`). Outside",
        "Still nothing masks names or PII, and there is no memory or reply policy.",
        "",
    ])  # fmt: skip


# ---------------------------------------------------------------------------- the stage


def validation(cfg: DictConfig, tokenizer, n: int) -> tuple[list, list]:
    from pipelines.sft import read_jsonl

    rows = read_jsonl(Path(cfg.sft_data.output) / "val.jsonl")
    if not rows:
        raise StageError(f"{cfg.sft_data.output}/val.jsonl is empty: the check needs validation examples")
    return rows, [
        e
        for r in rows[:n]
        if (e := encode_example(tokenizer, r["instruction"], r["input"], r["output"], cfg.model.max_length))
    ]


def run(cfg: DictConfig, out: Path) -> dict:
    """Write the GGUF files, the Modelfile and the LM Studio note into `out`; returns the report."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    c, model_dir = cfg.chat_export, Path(cfg.chat_export.input)
    if not (model_dir / MODEL_INFO).is_file():
        raise StageError(f"{model_dir}/{MODEL_INFO} not found: run the merge stage first (dvc repro merge)")
    levels = list(c.levels)
    bits16 = sixteen_bit(cfg, model_dir)
    if c.serve not in (*levels, bits16):
        raise StageError(f"chat_export.serve = {c.serve!r}: one of chat_export.levels {levels} or {bits16}")
    info = json.loads((model_dir / MODEL_INFO).read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    log.info("chat_export: converting %s to %s", model_dir, bits16)
    out.mkdir(parents=True, exist_ok=True)
    base_file = out.resolve() / file_name(cfg, bits16)
    convert(converter_path(cfg), model_dir, base_file, bits16)
    meta = metadata(base_file)
    if problems := template_problems(meta, tokenizer):
        raise StageError(f"{base_file}: " + "; ".join(problems) + f" (tokenizer of {model_dir})")
    for level in levels:
        log.info("chat_export: quantizing to %s", level)
        quantize(base_file, out / file_name(cfg, level), level, c.threads)

    rows, samples = validation(cfg, tokenizer, c.check.loss_examples)
    prompts = [encode_prompt(tokenizer, r["instruction"], r["input"], max_tokens=cfg.model.max_length).ids
               for r in rows[: c.check.prompts]]  # fmt: skip
    n_ctx = max(len(ids) for ids in [*prompts, *(s.input_ids for s in samples)]) + c.check.new_tokens + 8
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").eval()
    torch.set_num_threads(c.threads)
    hf = lambda ids: hf_logits(model, ids)  # noqa: E731
    report = {"sixteen_bit": bits16, "architecture": meta["architecture"], "serve": c.serve, "files": {}}
    merged_loss = reply_loss(hf, samples)
    report["merged"] = {"val_loss": round(merged_loss, 4), "perplexity": round(math.exp(merged_loss), 3)}

    for level in [bits16, *levels]:
        path = out / file_name(cfg, level)
        llm = open_gguf(path, n_ctx, c.threads)
        gg = lambda ids, llm=llm: gguf_logits(llm, ids)  # noqa: E731
        loss = reply_loss(gg, samples)
        entry = {
            "bytes": path.stat().st_size,
            "val_loss": round(loss, 4),
            "perplexity": round(math.exp(loss), 3),
            "perplexity_change": round(math.exp(loss) / math.exp(merged_loss) - 1, 4),
        }
        if level == bits16:
            splits = [greedy_split(hf, gg, p, c.check.new_tokens) for p in prompts]
            entry["greedy"] = [{"same_tokens": s.same, "tie_gap": s.gap} for s in splits]
            wrong = [s for s in splits if s.gap is not None and s.gap >= c.check.tie_gap]
            if wrong:
                raise StageError(
                    f"{path.name} does not compute what {model_dir} computes: greedy continuations split "
                    f"where transformers was sure ({[(s.same, s.gap) for s in wrong]}); see chat_export.check"
                )
        report["files"][path.name] = {"level": level, **entry}
        del llm
        log.info("chat_export: %s val loss %.4f (merged %.4f)", path.name, loss, merged_loss)

    generation = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    stop = tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id)
    serve = file_name(cfg, c.serve)
    text = modelfile(serve, info["instruction"], generation, tokenizer.chat_template, stop)
    (out / "Modelfile").write_text(text, encoding="utf-8")
    (out / "LMSTUDIO.md").write_text(
        lm_studio_note(sorted(report["files"]), info["instruction"], generation, stop), encoding="utf-8"
    )
    report["checked"] = {
        "prompts": len(prompts),
        "new_tokens": c.check.new_tokens,
        "loss_examples": len(samples),
    }
    return report
