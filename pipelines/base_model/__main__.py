"""`python -m pipelines.base_model [overrides]`: convert or check the base model, write base_model.json."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path, write_json
from pipelines.base_model import MANIFEST, run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("base_model", argv)
    with atomic_path(Path(cfg.base_model.output)) as out:
        out.mkdir()
        manifest = run(cfg, out)
        write_json(out / MANIFEST, manifest)
    stage.log.info("base_model: %s ready (%s)", manifest["name"], manifest["origin"])


if __name__ == "__main__":
    stage.entrypoint(main)
