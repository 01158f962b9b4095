"""`python -m pipelines.anonymize [overrides]`: write messages.parquet, report.json, metrics.json
and the private speaker mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines import stage
from pipelines.anonymize import labelled, run
from pipelines.atomic import write_json, write_parquet


def metrics(report: dict, entities) -> dict:
    """The few numbers `dvc metrics show` tracks between runs, and how well the configured
    recognisers mask the labelled Chinese set (pipelines/anonymize/labelled.py): precision and
    recall per entity type."""
    keys = ("messages_in", "messages_out", "removed_excluded_speaker", "target_messages", "speakers", "chats")
    quality = labelled.score(labelled.member_masker(entities).spans, labelled.labelled_messages())
    return {**{k: report[k] for k in keys}, "entities": report["entities"], "labelled_set": quality}


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("anonymize", argv)
    src = Path(cfg.anonymize.input) / "messages.parquet"
    if not src.exists():
        raise stage.StageError(f"{src} not found: run the ingest stage first (python -m pipelines.ingest)")
    contacts_file = Path(cfg.ingest.contacts)
    contacts = json.loads(contacts_file.read_text(encoding="utf-8")) if contacts_file.exists() else None
    if contacts is None:
        stage.log.warning("%s not found: only names seen on messages will be masked", contacts_file)
    result = run(cfg, pd.read_parquet(src), contacts)
    out = Path(cfg.anonymize.output)
    write_parquet(out / "messages.parquet", result.messages)
    write_json(out / "report.json", result.report)
    write_json(out / "metrics.json", metrics(result.report, cfg.anonymize.entities))
    write_json(cfg.anonymize.mapping, result.mapping)  # re-identifying: data/private only
    r = result.report
    stage.log.info(
        "anonymize: %d of %d messages kept (%d from excluded speakers removed), %d speakers, "
        "%d PII findings -> %s",
        r["messages_out"],
        r["messages_in"],
        r["removed_excluded_speaker"],
        r["speakers"],
        sum(r["entities"].values()),
        out,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
