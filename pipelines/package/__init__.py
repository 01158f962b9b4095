"""Stage `package`: the runtime bundle (data/dist/<name>/) — the merged chat model, the reply policy,
the retrieval memory, the voice model, the face component, the consent record and a manifest with
the sha256 of every file (layout: runtime/bundle.py).

What never enters a bundle: raw exports, the speaker mapping, the subject's names and ids in clear,
chat names. The persona's names go in only as salted hashes (`names.json`, runtime/names.py), so
the runtime masks them in live text as anonymize did in training (`package.persona_names=false`
leaves them out; the runtime then takes `--persona-name`). The consent record keeps its
relationship, date and permitted use; who gave consent is kept only as a salted sha256 fingerprint
(enough to check it against the signed record, not to read a name).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipelines.stage import DEMO_MARKER, StageError, consent_date
from runtime import pii
from runtime.bundle import (
    CHAT_GGUF,
    CHAT_MODEL,
    FACE,
    MEMORY,
    MODEL_INFO,
    NAMES,
    PERSON,
    POLICY,
    VOICE,
    write_manifest,
)
from runtime.memory import INDEX_META, MemoryIndex, RetrievalSettings
from runtime.names import HashedNames
from runtime.person import ENTITY as PERSON_ENTITY
from runtime.person import MODEL_FILE as PERSON_MODEL
from runtime.person_tagger import MODEL_FILE as PERSON_TAGGER
from runtime.policy import PolicyConfig
from runtime.prompt import TARGET

# Config groups recorded in the manifest: how the bundle was built. Never `subject` or
# `anonymize` (real names), never paths (they describe the build machine).
RECORDED_GROUPS = (
    "model", "memory", "sft_data", "sft", "merge", "chat_export", "voice_train", "voice_export",
    "face_export", "package",
)  # fmt: skip
PATH_KEYS = ("input", "output", "eval_metrics", "index", "memory", "voice", "features", "pretrained", "face",
             "recogniser", "camera", "converter")  # fmt: skip
# voice.json entries the live converter needs (ONNX path), and the RVC-ecosystem pair beside them.
VOICE_RUNTIME_FILES = ("onnx", "content_onnx", "pitch_onnx", "index_vectors")
VOICE_RVC_FILES = ("pth", "index")


def consent_record(cfg: DictConfig) -> dict:
    """The consent as the bundle carries it. Who gave it is a salted sha256 (an unsalted hash of a
    family name is reversed with a list of names); the salt is recorded, so anyone holding the
    signed paper record can check it. The demo's fictional record never goes with real exports."""
    consent = cfg.subject.consent
    if consent.get("demo") and not (Path(cfg.paths.chats) / DEMO_MARKER).exists():
        raise StageError(
            "conf/subject.yaml still holds the demo's fictional consent record (subject.consent.demo: "
            f"true), but {cfg.paths.chats} holds exports that demo_data did not write: fill in the consent "
            "of the person these chats are about (given_by, relationship, date, permitted_use) and remove "
            "`demo: true`"
        )
    salt = secrets.token_hex(16)
    return {
        "relationship": consent.relationship,
        "date": consent_date(consent).isoformat(),
        "permitted_use": consent.permitted_use,
        "given_by": {
            "salt": salt,
            "sha256": hashlib.sha256(f"{salt}\n{consent.given_by}".encode()).hexdigest(),
        },
        **({"demo": True} if consent.get("demo") else {}),
    }


def recorded_config(cfg: DictConfig) -> dict:
    out = {}
    for group in RECORDED_GROUPS:
        node = OmegaConf.to_container(cfg[group], resolve=True)
        out[group] = {k: v for k, v in node.items() if k not in PATH_KEYS}
        for key in ("memory", "check"):  # sft_data.memory, face_export.check: settings without paths
            if isinstance(out[group].get(key), dict):
                out[group][key] = {k: v for k, v in out[group][key].items() if k not in PATH_KEYS}
    return out


def add_memory(cfg: DictConfig, out: Path) -> dict | None:
    """Copy the memory index into the bundle; its component entry (None when memory is off)."""
    if not cfg.package.include_memory:
        return None
    index = Path(cfg.package.memory)
    if not (index / INDEX_META).is_file():
        raise StageError(f"{index}/{INDEX_META} not found: run the memory stage first (dvc repro memory), "
                         "or set package.include_memory=false")  # fmt: skip
    meta = json.loads((index / INDEX_META).read_text(encoding="utf-8"))
    try:
        RetrievalSettings.from_dict(meta.get("retrieval", {}))
    except (TypeError, ValueError) as e:
        raise StageError(f"memory.retrieval: {e}") from e
    shutil.copytree(index, out / MEMORY)
    MemoryIndex.load(out / MEMORY, dense=False)  # the runtime's own loader must read it
    return {
        "path": MEMORY,
        "snippets": meta["snippets"],
        "dense": meta["dense"],
        "retrieval": meta["retrieval"],
    }


def add_voice(cfg: DictConfig, out: Path) -> dict | None:
    """Copy the exported voice model's runtime files into the bundle; its component entry (None when
    the voice is off). The torch-only content/ folder stays behind: the bundle runs on ONNX Runtime."""
    if not cfg.package.include_voice:
        return None
    from runtime.voice.convert import ModelInfo, VoiceModelError

    src = Path(cfg.package.voice)
    try:
        info = ModelInfo.load(src)
    except VoiceModelError as e:
        raise StageError(f"{e} (dvc repro voice_export), or set package.include_voice=false") from e
    keys = VOICE_RUNTIME_FILES + (VOICE_RVC_FILES if cfg.package.voice_rvc_files else ())
    spec = {**info.spec, "content_dir": None, **{k: None for k in VOICE_RVC_FILES}}
    (out / VOICE).mkdir()
    for key in keys:
        path = info.file(key)
        if path is None or not path.is_file():
            raise StageError(f"{src}/voice.json names {key}={info.spec.get(key)!r}, which is missing: "
                             "re-run dvc repro voice_export")  # fmt: skip
        shutil.copyfile(path, out / VOICE / path.name)
        spec[key] = path.name
    (out / VOICE / "voice.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    report_file = src / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
    return {
        "path": VOICE,
        "sample_rate": spec["sample_rate"],
        "version": spec["version"],
        "content_meaningful": spec["content_meaningful"],
        "trained_steps": report.get("trained_steps"),
        "rvc_files": bool(cfg.package.voice_rvc_files),
    }


def add_chat_gguf(cfg: DictConfig, out: Path, info: dict) -> dict | None:
    """chat_export's `serve` file for llama.cpp, with how to serve it and what quantizing cost
    (perplexity change against the merged model on validation replies)."""
    if not cfg.package.chat_gguf:
        return None
    src = Path(cfg.chat_export.output)
    name = f"{cfg.chat_export.name}-{cfg.chat_export.serve}.gguf"
    report_file = src / "report.json"
    if not (src / name).is_file() or not report_file.is_file():
        raise StageError(f"{src / name} not found: run the chat_export stage first (dvc repro chat_export), "
                         "or set package.chat_gguf=false")  # fmt: skip
    report = json.loads(report_file.read_text(encoding="utf-8"))
    (out / CHAT_GGUF).mkdir()
    shutil.copyfile(src / name, out / CHAT_GGUF / name)
    llama = cfg.package.llama
    return {
        "path": f"{CHAT_GGUF}/{name}",
        "level": str(cfg.chat_export.serve),
        "bytes": (src / name).stat().st_size,
        "perplexity_change": report["files"][name]["perplexity_change"],
        "n_ctx": int(llama.n_ctx or info["max_prompt_tokens"]),
        "n_gpu_layers": int(llama.n_gpu_layers),
        "kv_cache_type": str(llama.kv_cache_type),
    }


def add_face(cfg: DictConfig, out: Path) -> dict | None:
    """Copy the exported face component into the bundle (without face_export's check/); its
    component entry (None when the face is off)."""
    if not cfg.package.include_face:
        return None
    from runtime.face.faceset import FaceSet, FaceSetError

    src = Path(cfg.package.face)
    try:
        FaceSet.load(src)
    except FaceSetError as e:
        raise StageError(f"{e}, or set package.include_face=false") from e
    shutil.copytree(src, out / FACE, ignore=lambda d, names: ["check"] if Path(d) == src else [])
    face = FaceSet.load(out / FACE)  # the runtime's own loader must read the copy
    return {
        "path": FACE,
        "faces": len(face.spec["faces"]),
        "default_swapper": face.default_swapper,
        "identities": sorted(face.spec["identities"]),
        "crop": {"template": face.crop_template, "size": face.crop_size},
    }


def policy_settings(cfg: DictConfig, model_info: dict) -> dict:
    """The policy as stored in the bundle, validated by the runtime's own parser. The context
    window is the one the model was trained on (sft_data.window, recorded in still_model.json)."""
    settings = OmegaConf.to_container(cfg.package.policy, resolve=True)
    if "context_messages" in settings:
        raise StageError(
            "package.policy.context_messages: the window is the model's own (sft_data.window, "
            f"{model_info['context_messages']} here); remove it from conf/package"
        )
    settings["context_messages"] = model_info["context_messages"]
    try:
        PolicyConfig.from_dict(settings)
    except (TypeError, ValueError) as e:
        raise StageError(f"package.policy: {e}") from e
    return settings


def add_persona_names(cfg: DictConfig, out: Path) -> dict | None:
    """The persona's names (configured and seen in the exports: the private mapping), hashed with a
    fresh salt, under anonymize's rule for names in text (min_name_chars, ignore_names)."""
    if not cfg.package.persona_names:
        return None
    seen = _private_mapping(cfg).get("speakers", {}).get(TARGET, {}).get("names", [])
    a = cfg.anonymize
    names = HashedNames.build([*cfg.subject.names, *seen], a.min_name_chars, a.ignore_names)
    (out / NAMES).write_text(json.dumps(names.to_dict(), indent=1) + "\n", encoding="utf-8")
    return {"path": NAMES, "count": len(names.digests), "min_name_chars": cfg.anonymize.min_name_chars}


def add_person_names(cfg: DictConfig, out: Path) -> dict | None:
    """Other people's names, found in live text as in training: anonymize's name model and tagger, and the
    names training masked wherever they were written (found by the finder, configured in
    `anonymize.person_names`, excluded speakers) as salted hashes labelled <PERSON>."""
    a = cfg.anonymize
    if PERSON_ENTITY not in a.entities:
        return None
    (out / PERSON).mkdir()
    component = {}
    if a.person.enabled:  # training's finder: the live side runs the same one
        model = Path(a.output) / PERSON_MODEL
        if not model.is_file():
            raise StageError(f"{model} not found: run the anonymize stage first (dvc repro anonymize)")
        shutil.copyfile(model, out / PERSON / PERSON_MODEL)
        component["model"] = f"{PERSON}/{PERSON_MODEL}"
        if a.person.tagger:  # and its learned tagger (person_tagger stage)
            tagger = Path(a.person.tagger)
            if not tagger.is_file():
                raise StageError(
                    f"{tagger} not found: run the person_tagger stage first (dvc repro person_tagger)"
                )
            shutil.copyfile(tagger, out / PERSON / PERSON_TAGGER)
            component["tagger"] = f"{PERSON}/{PERSON_TAGGER}"
    mapping = _private_mapping(cfg)
    excluded = list(cfg.subject.get("exclude", {}).get("names") or [])
    names = HashedNames.build(
        [*mapping.get("outsiders", []), *a.person_names, *excluded], a.min_name_chars, a.ignore_names,
        entity=PERSON_ENTITY, label=pii.placeholder(PERSON_ENTITY),
    )  # fmt: skip
    path = out / PERSON / "outsiders.json"
    path.write_text(json.dumps(names.to_dict(), indent=1) + "\n", encoding="utf-8")
    return {"path": PERSON, **component, "outsiders": f"{PERSON}/outsiders.json", "count": len(names.digests)}


def _private_mapping(cfg: DictConfig) -> dict:
    mapping_file = Path(cfg.anonymize.mapping)
    if not mapping_file.is_file():
        raise StageError(f"{mapping_file} not found: run the anonymize stage first (dvc repro anonymize)")
    return json.loads(mapping_file.read_text(encoding="utf-8"))


def run(cfg: DictConfig, out: Path) -> dict:
    """Assemble the bundle in the (empty) folder `out`; returns the manifest."""
    model = Path(cfg.package.input)
    if not (model / MODEL_INFO).exists():
        raise StageError(f"{model}/{MODEL_INFO} not found: run the merge stage first (dvc repro merge)")
    shutil.copytree(model, out / CHAT_MODEL)
    info = json.loads((model / MODEL_INFO).read_text(encoding="utf-8"))
    policy = policy_settings(cfg, info)
    (out / POLICY).write_text(json.dumps(policy, ensure_ascii=False, indent=2) + "\n", "utf-8")
    memory = add_memory(cfg, out)
    gguf = add_chat_gguf(cfg, out, info)
    voice = add_voice(cfg, out)
    face = add_face(cfg, out)
    names = add_persona_names(cfg, out)
    people = add_person_names(cfg, out)
    weights = sum(p.stat().st_size for p in (out / CHAT_MODEL).glob("*.safetensors"))
    metrics_file = Path(cfg.package.eval_metrics)
    evaluation = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else None
    manifest = {
        "name": cfg.package.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "components": {
            "chat_model": {
                "path": CHAT_MODEL,
                "base_model": info["base_model"],
                "prompt_format_version": info["prompt_format_version"],
                "weights_bytes": weights,
                "pii_entities": list(cfg.anonymize.entities),  # live windows are masked as training was
            },
            **({"chat_gguf": gguf} if gguf else {}),
            "policy": {"path": POLICY},
            **({"memory": memory} if memory else {}),
            **({"voice": voice} if voice else {}),
            **({"face": face} if face else {}),
            **({"names": names} if names else {}),
            **({"person": people} if people else {}),
        },
        "consent": consent_record(cfg),
        "evaluation": evaluation,
        "config": recorded_config(cfg),
    }
    return write_manifest(out, manifest, cfg.package.signing_key)
