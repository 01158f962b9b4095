"""`python -m pipelines.voice_export [overrides]`: export the voice model (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path, write_json
from pipelines.voice_export import run
from pipelines.voice_features import content


def demo_piece(cfg) -> Path | None:
    """The 16 kHz wav of the configured (or first) voice_features piece, for the demo conversion."""
    manifest = Path(cfg.voice_export.features) / "manifest.jsonl"
    if not manifest.exists():
        return None
    rows = stage.read_jsonl(manifest, "voice_features")
    want = cfg.voice_export.convert.piece
    row = next((r for r in rows if want is None or r["piece"] == want), None)
    if row is None:
        raise stage.StageError(f"voice_export.convert.piece={want} is not in {manifest}")
    return Path(row["wav16k"])


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("voice_export", argv)
    c = cfg.voice_export
    cm = content.load(cfg.voice_features.content)
    with atomic_path(c.output) as out:
        out.mkdir(parents=True)
        report = run(cfg, cm, out, demo_piece(cfg) if c.convert.enabled else None)
        write_json(out / "report.json", report)
        metrics = {k: report[k] for k in ("pth_mb", "onnx_mb", "onnx_max_abs_diff", "index_vectors")}
        demo = report.get("demo_conversion") or {}
        metrics.update(
            {
                f"demo_{k}": demo[k]
                for k in ("rtf", "compute_ms_per_block_mean", "algorithmic_latency_ms")
                if k in demo
            }
        )
        write_json(out / "metrics.json", metrics)
    if not cm.meaningful:
        stage.log.warning("voice_export: %s", content.NOT_CONTENT_WARNING)
    stage.log.info(
        "voice_export: %s.pth %.1f MB, onnx %.1f MB (max diff %.1e), index %d vectors -> %s",
        c.name,
        report["pth_mb"],
        report["onnx_mb"],
        report["onnx_max_abs_diff"],
        report["index_vectors"],
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
