"""`python -m pipelines.ingest [overrides]`: write messages.parquet, report.json and metrics.json."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.atomic import write_json, write_parquet
from pipelines.ingest import run


def metrics(report: dict) -> dict:
    """The few numbers `dvc metrics show` tracks between runs."""
    totals = report["totals"]
    keys = ("files_read", "files_failed", "rows_read", "kept", "dropped", "duplicates")
    return {
        **{k: totals[k] for k in keys},
        "chats": report["chats"]["chats"],
        "speakers": report["speakers"]["speakers"],
        "kept_by_kind": totals["kept_by_kind"],
    }


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("ingest", argv)
    src = Path(cfg.ingest.input)
    if not src.is_dir():
        raise stage.StageError(
            f"{src} not found: put your chat exports there (any nesting, any mix of formats), "
            "or run the demo_data stage for the fictional demo"
        )
    result = run(cfg, src)
    out = Path(cfg.ingest.output)
    write_parquet(out / "messages.parquet", result.messages)
    write_json(out / "report.json", result.report)
    write_json(out / "metrics.json", metrics(result.report))
    totals = result.report["totals"]
    stage.log.info(
        "ingest: %d messages kept from %d files (%d dropped, %d duplicates, %d files failed) -> %s",
        totals["kept"],
        totals["files_read"],
        totals["dropped"],
        totals["duplicates"],
        totals["files_failed"],
        out,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
