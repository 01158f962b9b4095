"""`python -m pipelines.audio_clean [overrides]`: write cleaned pieces, pieces.jsonl, report.json and
metrics.json."""

from __future__ import annotations

from pathlib import Path

from pipelines import audio_io, stage
from pipelines.atomic import atomic_path, write_json, write_jsonl
from pipelines.audio_clean import FEATURE_RATE, metrics, run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("audio_clean", argv)
    c = cfg.audio_clean
    src = Path(c.input)
    rows_file = src / "pieces.jsonl"
    rows = stage.read_jsonl(rows_file, "audio_prep")
    rate = int(cfg.audio_prep.sample_rate)

    def pieces():
        for row in rows:
            path = src / "wav" / f"{row['piece']}.wav"
            x, sr = audio_io.read_listed_wav(path, rows_file, "audio_prep", rate)
            yield row, x, sr

    with atomic_path(c.output) as out:

        def write_piece(pid, y, y16):
            audio_io.write_wav(out / "wav" / f"{pid}.wav", y, rate)
            audio_io.write_wav(out / "wav16k" / f"{pid}.wav", y16, FEATURE_RATE)

        kept, report = run(cfg, pieces(), write_piece)
        write_jsonl(out / "pieces.jsonl", kept)
        write_json(out / "report.json", report)
        write_json(out / "metrics.json", metrics(report))
    stage.log.info(
        "audio_clean (%s): %d of %d pieces kept, median SNR %s -> %s dB -> %s",
        report["denoiser"],
        report["pieces_kept"],
        report["pieces_in"],
        report["snr_before_median_db"],
        report["snr_after_median_db"],
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
