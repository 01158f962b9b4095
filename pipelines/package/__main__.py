"""`python -m pipelines.package [overrides]`: build the runtime bundle under data/dist/<name>/."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path
from pipelines.package import run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("package", argv)
    target = Path(cfg.package.output)
    with atomic_path(target) as out:
        out.mkdir()
        manifest = run(cfg, out)
    if cfg.package.zip:
        with atomic_path(target.with_suffix(".zip")) as tmp:  # tmp is ".../<name>.zip"
            shutil.make_archive(str(tmp.with_suffix("")), "zip", target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    stage.log.info("package: %s, %d files, %.0f MB", target, len(manifest["files"]) + 1, size / 1e6)


if __name__ == "__main__":
    stage.entrypoint(main)
