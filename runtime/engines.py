"""Chat engines: what turns a prompt into the persona's reply.

Every engine gets the same token ids from the one prompt path (`runtime.prompt.encode_prompt`, the
bundle's tokenizer) and returns the reply text; the decoding settings are the bundle's
(generation_config.json: top_p, temperature, repetition penalty, max_new_tokens).

- `TransformersEngine`: the merged Hugging Face model with PyTorch (`still[torch]`).
- `LlamaCppEngine`: the bundle's quantized GGUF file with llama.cpp (`still[llama]`): a fraction
  of the memory and several times the speed on a CPU; GPU layers, context size and KV-cache type
  from the bundle (manifest `chat_gguf`), the GPU layers overridable at run time.

Sampling differs between them in its random numbers (and llama.cpp applies the repetition penalty
to the last 64 tokens, transformers to the whole context), so the same seed does not give the same
sampled reply on both; greedy decoding does (chat_export checks the 16-bit file that way).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from runtime.extras import require

ENGINES = ("auto", "transformers", "llama.cpp")


class ChatEngine(Protocol):
    name: str

    def reply(self, prompt_ids: Sequence[int], seed: int) -> str:
        """The reply to a prompt (special tokens dropped, whitespace trimmed)."""
        ...


def decoding(model_dir: Path) -> dict:
    """The bundle's decoding defaults (merge wrote them to generation_config.json)."""
    path = model_dir / "generation_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_chat_model(folder, device: str = "cpu", load_in_4bit: bool = False):
    """The merged model in the dtype it was saved in (bf16 stays bf16: the memory doctor estimates
    from the weights' size), loaded shard by shard without a second full copy in RAM."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": "auto", "low_cpu_mem_usage": True}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()
    return model if load_in_4bit else model.to(device)


class TransformersEngine:
    name = "transformers"

    def __init__(self, model_dir: Path, tokenizer, device: str | None = None, load_in_4bit: bool = False):
        quantized = "serve the bundle's quantized model: --engine llama.cpp with pip install 'still[llama]'"
        torch = require("torch", "torch", "the transformers engine", quantized)
        self.tokenizer = tokenizer
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_chat_model(model_dir, self.device, load_in_4bit)

    def reply(self, prompt_ids: Sequence[int], seed: int) -> str:
        from runtime.generate import generate_replies

        return generate_replies(self.model, self.tokenizer, [list(prompt_ids)], seed=seed, batch_size=1)[0]


# KV-cache types llama.cpp takes (ggml type ids): f16 is its default; q8_0 halves the cache's memory.
KV_TYPES = {"f32": 0, "f16": 1, "q8_0": 8, "q4_0": 2}


class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, gguf: Path, tokenizer, generation: dict, n_ctx: int = 4096, n_gpu_layers: int = 0,
                 kv_cache_type: str = "f16", threads: int | None = None):  # fmt: skip
        wheel = "a prebuilt CPU or CUDA wheel from llama-cpp-python's wheel index, or --engine transformers"
        Llama = require("llama_cpp", "llama", "the llama.cpp engine", wheel).Llama
        if kv_cache_type not in KV_TYPES:
            raise ValueError(f"KV-cache type {kv_cache_type!r}: one of {sorted(KV_TYPES)}")
        kv = KV_TYPES[kv_cache_type]
        try:  # a quantized V cache needs flash attention in llama.cpp
            self.llm = Llama(str(gguf), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, type_k=kv, type_v=kv,
                             flash_attn=kv_cache_type not in ("f16", "f32"), n_threads=threads,
                             n_threads_batch=threads, verbose=False)  # fmt: skip
        except ValueError as e:
            raise ValueError(
                f"llama.cpp could not open {gguf} with a {n_ctx}-token context and a {kv_cache_type} KV "
                f"cache ({e}): a quantized cache needs attention heads of a multiple of 32 values, and the "
                "context must fit in memory; try package.llama.kv_cache_type=f16 or a smaller n_ctx"
            ) from e
        self.tokenizer, self.n_ctx = tokenizer, n_ctx
        g = generation
        self.greedy = not g.get("do_sample", False)
        self.sampling = {
            "temp": 0.0 if self.greedy else float(g.get("temperature") or 1.0),
            "top_p": float(g.get("top_p") or 1.0),
            "top_k": int(g.get("top_k") or 0),
            "repeat_penalty": float(g.get("repetition_penalty") or 1.0),
        }
        self.max_new_tokens = int(g.get("max_new_tokens") or 128)
        eos = g.get("eos_token_id", tokenizer.eos_token_id)
        self.stop = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}

    def reply(self, prompt_ids: Sequence[int], seed: int) -> str:
        budget = min(self.max_new_tokens, self.n_ctx - len(prompt_ids))
        if budget <= 0:
            raise ValueError(f"a prompt of {len(prompt_ids)} tokens fills the {self.n_ctx}-token context")
        self.llm.set_seed(seed)
        out: list[int] = []
        for token in self.llm.generate(list(prompt_ids), reset=True, **self.sampling):
            if token in self.stop:
                break
            out.append(token)
            if len(out) >= budget:
                break
        return self.tokenizer.decode(out, skip_special_tokens=True).strip()
