"""Loading the base chat model the same way in every stage that trains or evaluates it.

One place decides device, dtype, 4-bit quantization and attention implementation from the model
preset (conf/model/), so `sft`, `merge` and `eval_text` cannot disagree about what "the base model"
is. Serving on Windows loads merged models with plain transformers (runtime/), not through here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from omegaconf import DictConfig

log = logging.getLogger("still.model")


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(model_cfg: DictConfig) -> torch.dtype:
    """fp32 on CPU (bf16 matmuls are slow there); on CUDA bf16 where supported, else fp16."""
    if device().type != "cuda":
        return getattr(torch, model_cfg.dtype)
    if model_cfg.cuda_dtype != "auto":
        return getattr(torch, model_cfg.cuda_dtype)
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def quantized(model_cfg: DictConfig) -> bool:
    """4-bit loading (QLoRA) needs CUDA and bitsandbytes; elsewhere the preset falls back to full
    precision with a warning rather than failing."""
    if not model_cfg.load_in_4bit:
        return False
    if device().type != "cuda":
        log.warning("model.load_in_4bit needs a CUDA GPU; loading %s in full precision", model_cfg.name)
        return False
    return True


def load_tokenizer(path: Path, model_cfg: DictConfig):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=model_cfg.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"{path}: the tokenizer has no chat template; use an instruct/chat model folder")
    return tokenizer


def load_model(path: Path, model_cfg: DictConfig, *, for_training: bool = False):
    """The base causal LM on the best available device, ready for LoRA when `for_training`."""
    from transformers import AutoModelForCausalLM

    kwargs = {
        "dtype": compute_dtype(model_cfg),
        "trust_remote_code": model_cfg.trust_remote_code,
        "attn_implementation": model_cfg.attn_implementation,
    }
    if quantized(model_cfg):
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(model_cfg),
        )
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}  # one copy per process
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if "device_map" not in kwargs and not for_training:  # the Trainer places training models (DDP ranks)
        model.to(device())
    if for_training:
        model.config.use_cache = False  # caches are useless (and warned about) with checkpointing
        if quantized(model_cfg):
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=model_cfg.gradient_checkpointing
            )
    return model


def generation_eos(path: Path) -> int | list[int] | None:
    """The eos id(s) the model's generation_config stops at (GLM-4 stops at several tokens)."""
    from transformers import GenerationConfig

    if not (path / "generation_config.json").exists():
        return None
    return GenerationConfig.from_pretrained(path).eos_token_id
