"""`python -m pipelines.eval_text [overrides]`: base vs tuned on held-out replies → metrics + report."""

from __future__ import annotations

from pathlib import Path

from pipelines import base_model, stage
from pipelines.atomic import write_json, write_jsonl, write_text
from pipelines.eval_text import run
from pipelines.eval_text.report import render


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("eval_text", argv)
    tuned = Path(cfg.eval_text.model)
    if not (tuned / "config.json").exists():
        raise stage.StageError(f"{tuned}/config.json not found: run the merge stage first (dvc repro merge)")
    result = run(cfg, base_model.locate(cfg), tuned)
    out = Path(cfg.eval_text.output)
    write_json(out / "metrics.json", result.metrics)
    write_jsonl(out / "samples.jsonl", result.samples)
    write_jsonl(out / "memory_samples.jsonl", result.memory_samples)
    write_text(
        out / "report.md",
        render(
            result.metrics,
            result.samples,
            cfg.eval_text.samples_in_report,
            cfg.model.name,
            result.memory_samples,
        ),
    )
    b, t = result.metrics["base"], result.metrics["tuned"]
    stage.log.info(
        "eval_text: style_score %.3f -> %.3f, assistant tone %.2f -> %.2f (%s/report.md)",
        b["style_score"], t["style_score"], b["assistant_tone_rate"], t["assistant_tone_rate"], out,
    )  # fmt: skip
    if "memory" in result.metrics:
        m = result.metrics["memory"]
        fc = m["fact_consistency"]
        stage.log.info(
            "eval_text memory: recall@3 %s; fact consistency %.2f -> %.2f with memory (greedy %.2f -> %.2f); "
            "style_score %+.3f",
            {mode: r["recall_at_3"] for mode, r in m["retrieval"].items()},
            fc["without_memory"],
            fc["with_memory"],
            fc["greedy_without_memory"],
            fc["greedy_with_memory"],
            m["style_score_change"],
        )


if __name__ == "__main__":
    stage.entrypoint(main)
