"""`python -m pipelines.chat_export [overrides]`: GGUF files of the merged model, checked."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path, write_json
from pipelines.chat_export import run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("chat_export", argv)
    with atomic_path(Path(cfg.chat_export.output)) as out:
        report = run(cfg, out)
        write_json(out / "report.json", report)
    sizes = ", ".join(
        f"{name} {f['bytes'] / 2**20:.0f} MB ppl {f['perplexity']}" for name, f in report["files"].items()
    )
    stage.log.info("chat_export: merged ppl %s; %s", report["merged"]["perplexity"], sizes)


if __name__ == "__main__":
    stage.entrypoint(main)
