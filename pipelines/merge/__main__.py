"""`python -m pipelines.merge [overrides]`: merge the adapter into the base model, verified."""

from __future__ import annotations

from pathlib import Path

from pipelines import base_model, stage
from pipelines.atomic import atomic_path
from pipelines.merge import merge


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("merge", argv)
    base = base_model.locate(cfg)
    with atomic_path(Path(cfg.merge.output)) as out:
        info = merge(cfg, base, out)
    stage.log.info("merge: %s -> %s (check %s)", info["base_model"], cfg.merge.output, info["merge_check"])


if __name__ == "__main__":
    stage.entrypoint(main)
