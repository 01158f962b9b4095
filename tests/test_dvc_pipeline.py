"""`dvc repro` on a fresh copy of the project: the demo pipeline end to end, and the three config
behaviours — no-op when nothing changed, exact re-runs after a conf/ edit, `dvc exp run -S`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

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


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh git copy of the tracked project (like a clone), with a shorter demo for speed."""
    dst = tmp_path_factory.mktemp("clone")
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
    demo = dst / "conf/demo_data/default.yaml"
    demo.write_text(re.sub(r"(?m)^days: \d+", "days: 60", demo.read_text()))
    sh(dst, "git", "init", "-q")
    sh(dst, "git", "add", "-A")
    sh(dst, "git", "commit", "-qm", "clone")
    return dst


def test_repro_builds_training_data_from_the_demo(project):
    out = sh(project, "dvc", "repro")
    assert stages_run(out) == {"config", "demo_data", "ingest", "anonymize", "sft_data"}
    assert max_window_lines(project) <= 12
    metrics = sh(project, "dvc", "metrics", "show", "--json")
    assert "examples_train" in metrics


def test_second_repro_is_a_no_op(project):
    out = sh(project, "dvc", "repro")
    assert stages_run(out) == set()
    assert "up to date" in sh(project, "dvc", "status")


def test_conf_edit_reruns_exactly_the_stages_that_use_it(project):
    conf = project / "conf/sft_data/default.yaml"
    conf.write_text(re.sub(r"(?m)^window: 12", "window: 6", conf.read_text()))
    out = sh(project, "dvc", "repro")
    assert stages_run(out) == {"config", "sft_data"}
    assert max_window_lines(project) == 6
    sh(project, "git", "commit", "-qam", "window 6")


def test_exp_run_set_param_applies_the_override(project):
    out = sh(project, "dvc", "exp", "run", "-S", "sft_data.window=3")
    assert stages_run(out) == {"config", "sft_data"}
    assert max_window_lines(project) == 3
