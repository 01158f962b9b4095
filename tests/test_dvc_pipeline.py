"""`dvc repro` on a fresh copy of the project: the demo pipeline end to end (a tiny model in place of
SmolLM2), and the three config behaviours — no-op when nothing changed, exact re-runs after a conf/
edit, `dvc exp run -S`.

The project is built once (`built`: a clone and its first `dvc repro`) and never changed; a test
that runs dvc again gets its own copy of it (`project`), so no test depends on another's state or
on the order they run in."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_llm import build_smollm2_tokenizer, build_tiny_llm

from pipelines.demo_data import generate
from pipelines.stage import compose_config

REPO = Path(__file__).resolve().parents[1]

MODEL_STAGES = {"base_model", "sft", "merge", "chat_export", "eval_text", "package"}
VOICE_STAGES = {"audio_prep", "audio_clean", "voice_features", "voice_train", "voice_export"}
FACE_STAGES = {"face_align", "face_curate", "face_export"}
GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def sh(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, **GIT_ID, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def max_window_lines(project: Path) -> int:
    rows = (project / "data/processed/sft_data/train.jsonl").read_text(encoding="utf-8").splitlines()
    return max(len(json.loads(r)["input"].splitlines()) for r in rows)


def edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert re.search(pattern, text), f"{pattern} not in {path}"
    path.write_text(re.sub(pattern, replacement, text), encoding="utf-8")


def fresh_copy(dst: Path) -> Path:
    """The tracked project files (like a clone), without data or caches."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for f in files:
        if (REPO / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dst / f)
    return dst


def commit_all(dst: Path) -> None:
    sh(dst, "git", "init", "-q")
    sh(dst, "git", "add", "-A")
    sh(dst, "git", "commit", "-qm", "clone")


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh copy with a shorter demo and a tiny model, for speed."""
    dst = fresh_copy(tmp_path_factory.mktemp("clone"))
    edit(dst / "conf/demo_data/default.yaml", r"(?m)^days: \d+", "days: 60")
    # The tiny random Llama instead of SmolLM2 (with SmolLM2's tokenizer, which llama.cpp's converter
    # knows), and a few training steps: same stages, seconds each.
    tokenizer = build_smollm2_tokenizer(tmp_path_factory.mktemp("smol-tokenizer"))
    tiny = build_tiny_llm(tmp_path_factory.mktemp("tiny") / "tiny-llama", tokenizer_dir=tokenizer)
    edit(dst / "conf/config.yaml", r"model: smollm2_135m", "model: tiny_test")
    edit(dst / "conf/model/tiny_test.yaml", r"(?m)^path: \?\?\?", f"path: {tiny}")
    edit(dst / "conf/sft/default.yaml", r"(?m)^max_steps: \d+", "max_steps: 3")
    # small batches: SmolLM2's 49k-token vocabulary makes the tiny model's logits the cost (40 s -> 12 s)
    edit(dst / "conf/sft/default.yaml", r"(?m)^batch_size: \d+", "batch_size: 2")
    edit(dst / "conf/sft/default.yaml", r"(?m)^max_eval_examples: \d+", "max_eval_examples: 8")
    edit(dst / "conf/voice_train/default.yaml", r"(?m)^epochs: \d+", "epochs: 2")
    edit(dst / "conf/eval_text/default.yaml", r"(?m)^max_examples: \d+", "max_examples: 4")
    edit(dst / "conf/eval_text/default.yaml", r"(?m)^generation: \{\}", "generation: {max_new_tokens: 8}")
    sh(dst, sys.executable, "-m", "pipelines.config")
    commit_all(dst)
    return dst


@pytest.fixture(scope="module")
def built(clone) -> tuple[Path, str]:
    """The clone after its first `dvc repro` (and what dvc printed); read it, never change it."""
    out = sh(clone, "dvc", "repro")
    sh(clone, "git", "add", "-A")
    sh(clone, "git", "commit", "-qm", "built")
    return clone, out


@pytest.fixture
def project(built, tmp_path) -> Path:
    """A private copy of the built project (data, DVC cache and git history), for tests that run dvc."""
    return Path(shutil.copytree(built[0], tmp_path / "project", symlinks=True))


def test_repro_builds_training_data_from_the_demo(built):
    project, out = built
    text_stages = {"config", "demo_data", "ingest", "person_tagger", "anonymize", "memory", "sft_data",
                   *MODEL_STAGES}  # fmt: skip
    assert stages_run(out) == {*text_stages, *VOICE_STAGES, *FACE_STAGES}
    voice = json.loads((project / "data/processed/voice_features/report.json").read_text(encoding="utf-8"))
    assert voice["pieces"] > 10
    faces = json.loads((project / "data/processed/face_curate/report.json").read_text(encoding="utf-8"))
    assert 1 <= faces["summary"]["kept"] <= 15 and len(faces["photos"]) == faces["summary"]["photos"]
    assert max_window_lines(project) <= 12
    metrics = sh(project, "dvc", "metrics", "show", "--json")
    assert "examples_train" in metrics and "assistant_tone_rate" in metrics and "eval" in metrics
    assert (project / "data/models/merge/model.safetensors").exists()
    export_report = project / "data/models/chat_export/report.json"  # the GGUF files, checked
    export = json.loads(export_report.read_text(encoding="utf-8"))
    assert set(export["files"]) == {"persona-f16.gguf", "persona-Q8_0.gguf", "persona-Q5_K_M.gguf",
                                    "persona-Q4_K_M.gguf"}  # fmt: skip
    assert (project / "data/models/chat_export/Modelfile").exists()
    memory = json.loads(metrics)  # eval_text reports retrieval and fact consistency as DVC metrics
    eval_metrics = next(v for k, v in memory[""]["data"].items() if k.endswith("eval_text/metrics.json"))[
        "data"
    ]
    assert set(eval_metrics["memory"]["retrieval"]) == {"lexical", "dense", "hybrid"}
    assert eval_metrics["memory"]["retrieval"]["hybrid"]["recall_at_5"] > 0.5
    assert {"with_memory", "without_memory"} <= set(eval_metrics["memory"]["fact_consistency"])
    manifest = json.loads((project / "data/dist/demo/manifest.json").read_text(encoding="utf-8"))
    assert manifest["components"]["memory"]["snippets"] > 100 and manifest["components"]["memory"]["dense"]
    voice = manifest["components"]["voice"]  # the trained voice, its demo conversion and index
    assert voice["trained_steps"] > 0 and (project / "data/dist/demo/voice/voice.onnx").exists()
    assert (project / "data/models/voice_export/check/converted.wav").exists()
    face = manifest["components"]["face"]  # the curated faces, and the demo call through the live engine
    assert face["faces"] >= 1 and (project / "data/dist/demo/face/face.json").exists()
    assert not (project / "data/dist/demo/face/check").exists()
    assert (project / "data/models/face_export/check/converted.mp4").exists()
    losses = next(v for k, v in memory[""]["data"].items() if k.endswith("voice_train/dvclive/metrics.json"))
    assert losses["data"]["train"]["g"]["mel"] > 0  # dvclive's losses are DVC metrics (and plots)


def test_the_bundle_holds_no_name_wxid_or_pii_of_the_demo(built, make_cfg):
    """Every byte of every bundle file (weights included) against every sensitive value of the demo
    inputs: names, wxids, chat names, phones, IDs, cards, emails, addresses."""
    bundle = built[0] / "data/dist/demo"
    assert (bundle / "manifest.json").exists()
    values = generate(make_cfg("demo_data.days=60")).truth.sensitive_values()
    values = {*values, "Chen Meilan", "wxid_meilan_chen01", "Tom Zhao"}  # + conf/subject.yaml
    blobs = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert not [n for n in blobs if "mapping" in n or "private" in n]
    assert "manifest.sig" in blobs and not [n for n, blob in blobs.items() if b"PRIVATE KEY" in blob]
    # The base model's public vocabulary (SmolLM2's, in tokenizer.json and the GGUF) holds common
    # words such as "Helen": present before any of the demo's data was seen, so no evidence of a leak.
    base = yaml.safe_load((built[0] / "conf/model/tiny_test.yaml").read_text(encoding="utf-8"))["path"]
    vocabulary = (Path(base) / "tokenizer.json").read_bytes()
    public = {v for v in values if v.encode() in vocabulary}
    assert len(public) <= 3 and all(" " not in v for v in public), public
    leaks = {(name, v) for name, blob in blobs.items() for v in values - public if v.encode() in blob}
    assert leaks == set()


def test_second_repro_is_a_no_op(project):
    out = sh(project, "dvc", "repro")
    assert stages_run(out) == set()
    assert "up to date" in sh(project, "dvc", "status")


def test_conf_edit_reruns_exactly_the_stages_that_use_it(project):
    edit(project / "conf/sft_data/default.yaml", r"(?m)^window: 12", "window: 6")
    out = sh(project, "dvc", "repro")
    assert stages_run(out) == {"config", "sft_data", *MODEL_STAGES - {"base_model"}}
    assert max_window_lines(project) == 6


def test_exp_run_set_param_applies_the_override(project):
    """A setting only the evaluation's report reads: nothing upstream re-runs, and the report's
    metrics are unchanged so the bundle is not repackaged."""
    out = sh(project, "dvc", "exp", "run", "-S", "eval_text.samples_in_report=2")
    assert stages_run(out) == {"config", "eval_text"}
    report = (project / "data/processed/eval_text/report.md").read_text(encoding="utf-8")
    assert re.findall(r"(?m)^### \d+$", report) == ["### 1", "### 2"]


@pytest.mark.slow
def test_readme_main_command_tunes_smollm2_towards_the_persona(tmp_path):
    """The README's `dvc repro` as is: SmolLM2-135M fine-tuned on the demo persona on this CPU. The
    tuned model must write closer to the persona's style than the base, in a less assistant-like tone."""
    dst = fresh_copy(tmp_path / "clone")
    commit_all(dst)
    sh(dst, "dvc", "repro")
    metrics = json.loads((dst / "data/processed/eval_text/metrics.json").read_text(encoding="utf-8"))
    base, tuned = metrics["base"], metrics["tuned"]
    assert tuned["style_score"] > base["style_score"]
    assert tuned["assistant_tone_rate"] < base["assistant_tone_rate"]
    assert tuned["val_loss"] < base["val_loss"]
    assert "## Samples" in (dst / "data/processed/eval_text/report.md").read_text(encoding="utf-8")
    # Memory grounds replies in facts the persona stated months earlier (greedy: no sampling noise),
    # and does not make the style worse.
    memory = metrics["memory"]
    assert (
        memory["fact_consistency"]["greedy_with_memory"] > memory["fact_consistency"]["greedy_without_memory"]
    )
    assert memory["style_with_memory"]["style_score"] >= tuned["style_score"] - 0.02
    assert memory["retrieval"]["hybrid"]["recall_at_3"] >= 0.5
    # The demo voice trains on this CPU (its mel loss falls) and converts a demo file.
    voice = json.loads((dst / "data/models/voice_train/model/summary.json").read_text(encoding="utf-8"))
    assert voice["last_losses"]["g/mel"] < 0.75 * voice["first_losses"]["g/mel"]
    assert (dst / "data/models/voice_export/check/converted.wav").exists()
    # The real bundle: a value counts as leaked unless the base model already carried it (SmolLM2's
    # vocabulary holds common first names such as "Helen"; those did not come from the chats).
    base = b"".join(p.read_bytes() for p in (dst / "data/models/base_model").rglob("*") if p.is_file())
    values = {v for v in generate(compose_config([])).truth.sensitive_values() if v.encode() not in base}
    bundle = [p.read_bytes() for p in (dst / "data/dist/demo").rglob("*") if p.is_file()]
    assert not [v for v in values if any(v.encode() in blob for blob in bundle)]
    # doctor's memory estimate is what loading the demo's chat model and running it takes
    chat_model = dst / "data/dist/demo/chat_model"
    probe = "; ".join([
        "import os, psutil, torch",
        "from pathlib import Path",
        "from runtime.engines import load_chat_model",
        "from runtime.doctor import needed_memory",
        "p = psutil.Process(os.getpid()); r0 = p.memory_info().rss",
        f"d = Path({str(chat_model)!r}); m = load_chat_model(d)",
        "torch.set_grad_enabled(False)",  # as generate() runs
        "m(torch.ones(1, 512, dtype=torch.long))",  # a forward pass touches every weight
        "w = sum(f.stat().st_size for f in d.glob('*.safetensors'))",
        "print(p.memory_info().rss - r0, needed_memory(w))",
    ])  # fmt: skip
    grown, estimate = map(int, sh(dst, sys.executable, "-c", probe).split()[-2:])
    assert grown <= estimate
