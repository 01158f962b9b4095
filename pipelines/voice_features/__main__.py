"""`python -m pipelines.voice_features [overrides]`: write features, f0, manifest.jsonl, report.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines import audio_io, stage
from pipelines.atomic import atomic_path, write_json, write_jsonl
from pipelines.voice_features import run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("voice_features", argv)
    c = cfg.voice_features
    src = Path(c.input)
    rows_file = src / "pieces.jsonl"
    rows = stage.read_jsonl(rows_file, "audio_clean")

    def pieces():
        for row in rows:
            p16 = src / "wav16k" / f"{row['piece']}.wav"
            x16, _ = audio_io.read_listed_wav(p16, rows_file, "audio_clean", 16000)
            yield row, x16, str(src / "wav" / f"{row['piece']}.wav"), str(p16)

    with atomic_path(c.output) as out:

        def save(rel, arr):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(out / rel, arr)
            return rel

        manifest, report = run(cfg, pieces(), save)
        write_jsonl(out / "manifest.jsonl", manifest)
        write_json(out / "report.json", report)
        write_json(out / "metrics.json", {k: report[k] for k in ("pieces", "frames", "feature_dim")})
    if not report["content_features_meaningful"]:
        stage.log.warning("%s", report["WARNING"])
    stage.log.info(
        "voice_features: %d pieces, %d frames (%s pitch, %s %s) -> %s",
        report["pieces"],
        report["frames"],
        report["pitch_method"],
        report["content_model"],
        report["content_version"],
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
