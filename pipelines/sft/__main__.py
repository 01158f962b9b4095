"""`python -m pipelines.sft [overrides]`: train the LoRA adapter (see the package docstring).

With `sft.launch.num_processes > 1` this command re-runs itself under `accelerate launch`, using
conf/accelerate/<sft.launch.strategy>.yaml, so `dvc repro` trains on several GPUs without a new
command line.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines import base_model, stage
from pipelines.sft import run

ACCELERATE_CONF = stage.CONF_DIR / "accelerate"


def launch_command(cfg, argv: list[str]) -> list[str] | None:
    """The `accelerate launch` command line for a multi-process run, or None to train here."""
    launch = cfg.sft.launch
    if launch.num_processes <= 1 or "LOCAL_RANK" in os.environ:  # single device, or already launched
        return None
    config = ACCELERATE_CONF / f"{launch.strategy}.yaml"
    if not config.exists():
        options = sorted(p.stem for p in ACCELERATE_CONF.glob("*.yaml"))
        raise stage.StageError(f"sft.launch.strategy={launch.strategy}: no {config}; choose one of {options}")
    accelerate = shutil.which("accelerate") or "accelerate"
    return [accelerate, "launch", "--config_file", str(config), "--num_processes", str(launch.num_processes),
            "-m", "pipelines.sft", *argv]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = stage.load_config("sft", argv)
    command = launch_command(cfg, argv)
    if command:
        stage.log.info("sft: launching %d processes: %s", cfg.sft.launch.num_processes, " ".join(command))
        os.execvp(command[0], command)
    base = base_model.locate(cfg)
    summary = run(cfg, base, base_model.fingerprint(base), Path(cfg.sft.output))
    stage.log.info(
        "sft: %d steps, train loss %s, val loss %s -> %s/adapter",
        summary["steps"], summary["train_loss"], summary["val_loss"], cfg.sft.output,
    )  # fmt: skip


if __name__ == "__main__":
    stage.entrypoint(main)
