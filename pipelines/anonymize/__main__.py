"""`python -m pipelines.anonymize [overrides]`: write messages.parquet, report.json, metrics.json
and the private speaker mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines import stage
from pipelines.anonymize import labelled, person_model, run
from pipelines.anonymize.ner import NerModel
from pipelines.atomic import write_json, write_parquet
from runtime.person import MODEL_FILE as PERSON_MODEL
from runtime.person_tagger import NameTagger


def metrics(report: dict, c, names_model=None, ner=None, tagger=None) -> dict:
    """The few numbers `dvc metrics show` tracks between runs, and how well the configured
    recognisers mask the labelled Chinese set (pipelines/anonymize/labelled.py): precision and
    recall per entity type on each split (`held_out` and the `fresh` splits were never tuned or
    trained on). `c`: conf/anonymize."""
    keys = ("messages_in", "messages_out", "removed_excluded_speaker", "target_messages", "speakers", "chats")
    quality = {
        split: labelled.evaluate(c.entities, names_model, c.person.propagate_min_count, split, ner, tagger)
        for split in labelled.SPLITS
    }
    return {**{k: report[k] for k in keys}, "entities": report["entities"], "labelled_set": quality}


def load_tagger(path: str | None) -> NameTagger | None:
    """The person tagger the config names (None: the rules alone)."""
    if path is None:
        return None
    try:
        return NameTagger.load(Path(path))
    except (FileNotFoundError, ValueError) as e:
        raise stage.StageError(f"{e} (anonymize.person.tagger=null reads names by the rules alone)") from e


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("anonymize", argv)
    src = Path(cfg.anonymize.input) / "messages.parquet"
    if not src.exists():
        raise stage.StageError(f"{src} not found: run the ingest stage first (python -m pipelines.ingest)")
    contacts_file = Path(cfg.ingest.contacts)
    contacts = json.loads(contacts_file.read_text(encoding="utf-8")) if contacts_file.exists() else None
    if contacts is None:
        stage.log.warning("%s not found: only names seen on messages will be masked", contacts_file)
    tagger = load_tagger(cfg.anonymize.person.tagger)
    names_model = person_model.build(cfg.anonymize.person)
    finder = names_model if cfg.anonymize.person.enabled else None
    ner = NerModel.load(cfg.anonymize.person.ner)
    result = run(cfg, pd.read_parquet(src), contacts, finder, ner, tagger)
    out = Path(cfg.anonymize.output)
    write_parquet(out / "messages.parquet", result.messages)
    names_model.save(out / PERSON_MODEL)  # for the bundle: live windows find names the same way
    write_json(out / "report.json", result.report)
    write_json(out / "metrics.json", metrics(result.report, cfg.anonymize, finder, ner, tagger))
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
