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


def redact_paths(report: dict) -> tuple[dict, dict]:
    """Export tools name folders after chats and wxids, so report.json names files `F1`, `F2`…;
    the id -> path index is returned for paths.private (and the console log names paths)."""
    paths = sorted(set(report["files"]) | set(report["files_failed"]))
    ids = {path: f"F{i}" for i, path in enumerate(paths, start=1)}
    redacted = {
        **report,
        "files": {ids[p]: entry for p, entry in report["files"].items()},
        "files_failed": {ids[p]: why.replace(p, ids[p]) for p, why in report["files_failed"].items()},
    }
    return redacted, {fid: path for path, fid in ids.items()}


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
    report, file_index = redact_paths(result.report)
    write_json(out / "report.json", report)
    write_json(Path(cfg.ingest.file_index), file_index)  # paths name people: private
    write_json(out / "metrics.json", metrics(result.report))
    write_json(cfg.ingest.contacts, result.contacts)  # re-identifying: data/private only
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
