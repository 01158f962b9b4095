"""Content features (HuBERT / ContentVec) for the voice model, from local files only.

- `model: hubert`: a transformers HubertModel folder (config.json + model.safetensors or
  pytorch_model.bin). v2 takes the output of layer 12 (768-dim); v1 the output of layer 9 through
  `final_proj` (768 -> 256), whose weights are read from `final_proj.safetensors` in the same folder
  (tensors `weight` [256, 768] and `bias` [256], as in the fairseq checkpoint's `final_proj`).
- `model: random_tiny`: a small randomly initialised HubertModel (fixed seed) with the real frame
  rate (conv strides, 320 samples/frame) and the real output widths (768 / 256), so everything
  downstream runs offline. Its features carry NO speech content: a voice model trained on them
  cannot convert speech. Every report and manifest written with it says so.

HuBERT runs at 50 frames/s on 16 kHz audio; features are repeated 2x to the 100 frames/s pitch grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from pipelines.stage import StageError

VERSIONS = {"v2": {"layer": 12, "dim": 768}, "v1": {"layer": 9, "dim": 256}}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HUBERT_SOURCE = (
    "hubert_base (fairseq hubert_base.pt, as RVC uses) or ContentVec, converted to a transformers "
    "folder (e.g. with transformers' convert_hubert_original_pytorch_checkpoint_to_pytorch.py)"
)
NOT_CONTENT_WARNING = (
    "content.model=random_tiny: features come from a RANDOMLY INITIALISED network and are NOT "
    "meaningful content features; a voice model trained on them will not convert speech. "
    "Supply a real HuBERT/ContentVec folder (voice_features.content.model=hubert) for real use."
)


@dataclass
class ContentModel:
    model: torch.nn.Module
    layer: int
    final_proj: torch.nn.Linear | None
    dim: int
    meaningful: bool
    description: str

    @torch.no_grad()
    def __call__(self, x16k: np.ndarray) -> np.ndarray:
        """(samples,) at 16 kHz -> (frames at 50 fps, dim) float32."""
        wav = torch.from_numpy(np.asarray(x16k, np.float32))[None]
        out = self.model(wav, output_hidden_states=True)
        h = out.hidden_states[self.layer]
        if self.final_proj is not None:
            h = self.final_proj(h)
        return h[0].float().numpy()


def tiny_hubert_config(hidden: int = 768, layers: int = 2):
    """A small HubertConfig with base HuBERT's feature-extractor strides (320 samples per frame)."""
    from transformers import HubertConfig

    return HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=256,
        conv_dim=(32,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=False,
        feat_extract_norm="group",
    )


def load(c: DictConfig) -> ContentModel:
    """The configured content model (`voice_features.content`)."""
    version = str(c.version)
    if version not in VERSIONS:
        raise StageError(f"voice_features.content.version={version}: choose v1 or v2")
    want = VERSIONS[version]
    if str(c.model) == "random_tiny":
        from transformers import HubertModel

        torch.manual_seed(int(c.seed))
        model = HubertModel(tiny_hubert_config()).eval()
        proj = torch.nn.Linear(768, 256) if version == "v1" else None
        layer = model.config.num_hidden_layers  # the tiny net's last layer stands in for 9 / 12
        return ContentModel(model, layer, proj, want["dim"], False, NOT_CONTENT_WARNING)
    if str(c.model) != "hubert":
        raise StageError(f"voice_features.content.model={c.model}: choose hubert or random_tiny")
    return load_hubert(Path(c.path), version)


def load_hubert(folder: Path, version: str = "v2") -> ContentModel:
    """HubertModel from a local folder; StageError naming the missing file and where to get it."""
    from transformers import HubertModel

    want = VERSIONS[version]
    if not (folder / "config.json").is_file():
        raise StageError(
            f"{folder / 'config.json'} not found (voice_features.content.path): supply {HUBERT_SOURCE}"
        )
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise StageError(
            f"{folder / WEIGHT_FILES[0]} (or {WEIGHT_FILES[1]}) not found: supply {HUBERT_SOURCE}"
        )
    try:
        model = HubertModel.from_pretrained(folder, local_files_only=True).eval()
    except Exception as e:
        raise StageError(f"{folder} is not a loadable transformers HubertModel: {e}") from None
    if model.config.num_hidden_layers < want["layer"]:
        raise StageError(
            f"{folder}: {version} needs layer {want['layer']} but the model has "
            f"{model.config.num_hidden_layers} layers"
        )
    proj = None
    if version == "v1":
        path = folder / "final_proj.safetensors"
        if not path.is_file():
            raise StageError(
                f"{path} not found: v1 features need HuBERT's final_proj (768->256) weights, saved from "
                "the fairseq checkpoint's final_proj as tensors 'weight' and 'bias'"
            )
        from safetensors.torch import load_file

        t = load_file(path)
        proj = torch.nn.Linear(t["weight"].shape[1], t["weight"].shape[0])
        proj.load_state_dict({"weight": t["weight"], "bias": t["bias"]})
    elif model.config.hidden_size != want["dim"]:
        raise StageError(f"{folder}: v2 expects 768-dim features, the model gives {model.config.hidden_size}")
    return ContentModel(
        model, want["layer"], proj, want["dim"], True, f"HubertModel from {folder}, {version}"
    )


def align_to_pitch(features: np.ndarray, n_pitch_frames: int) -> np.ndarray:
    """50 fps features repeated 2x onto the 100 fps pitch grid, trimmed or edge-padded to its length."""
    rep = np.repeat(features, 2, axis=0)
    if len(rep) >= n_pitch_frames:
        return rep[:n_pitch_frames]
    return np.concatenate([rep, np.repeat(rep[-1:], n_pitch_frames - len(rep), axis=0)]) if len(rep) else rep
