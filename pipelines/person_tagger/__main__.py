"""`python -m pipelines.person_tagger [overrides]`: write person_tagger.npz, report.json and
metrics.json."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.anonymize import person_model
from pipelines.atomic import write_json
from pipelines.person_tagger import run
from runtime.person_tagger import MODEL_FILE


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("person_tagger", argv)
    tagger, report = run(cfg, person_model.build(cfg.anonymize.person), stage.log)
    out = Path(cfg.person_tagger.output)
    out.mkdir(parents=True, exist_ok=True)
    tagger.save(out / MODEL_FILE)
    write_json(out / "report.json", report)
    metrics = {k: report[k] for k in ("validation", "validation_with_rules")}
    write_json(out / "metrics.json", {**metrics, "loss": report["loss_per_epoch"][-1]})
    v, f = report["validation"], report["validation_with_rules"]
    stage.log.info(
        "person_tagger: %d examples, %d epochs; validation recall / precision %.3f / %.3f alone, "
        "%.3f / %.3f with the rules -> %s",
        report["corpus"]["newspaper_sentences"]
        + report["corpus"]["chat_messages"] * report["corpus"]["chat_weight"],
        report["epochs"],
        v["recall"],
        v["precision"],
        f["recall"],
        f["precision"],
        out / MODEL_FILE,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
