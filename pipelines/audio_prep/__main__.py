"""`python -m pipelines.audio_prep [overrides]`: write the pieces, pieces.jsonl, report.json, metrics.json."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines import audio_io, stage
from pipelines.anonymize.speakers import identify
from pipelines.atomic import atomic_path, write_json, write_jsonl
from pipelines.audio_prep import FEATURE_RATE, attribute, list_audio, metrics, run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("audio_prep", argv)
    c = cfg.audio_prep
    root = Path(c.input)
    if not root.is_dir():
        raise stage.StageError(f"{root} not found: put recordings and voice messages there (paths.audio)")
    files = list_audio(root)
    if not files:
        raise stage.StageError(f"{root} holds no files: put recordings and WeChat voice messages there")
    table = Path(c.messages)
    messages = None
    if table.exists():
        messages = pd.read_parquet(table)
        # Whose voice is whose: the subject is resolved exactly as anonymize resolves it.
        messages["is_target"] = identify(cfg.subject, messages, str(table)).is_target
    else:
        stage.log.warning("%s not found: every audio file is taken as a recording of the persona", table)
    sr = int(c.sample_rate)
    with atomic_path(c.output) as out:

        def write_piece(pid, y, y16):
            audio_io.write_wav(out / "wav" / f"{pid}.wav", y, sr)
            audio_io.write_wav(out / "wav16k" / f"{pid}.wav", y16, FEATURE_RATE)

        result = run(cfg, attribute(files, messages), write_piece)
        write_jsonl(out / "pieces.jsonl", result.pieces)
        write_json(out / "report.json", result.report)
        write_json(out / "metrics.json", metrics(result.report))
    r = result.report
    stage.log.info(
        "audio_prep: %d of %d files kept, %.2f of %.2f min -> %d pieces; drops %s -> %s",
        r["files_kept"],
        r["files_in"],
        r["minutes_kept"],
        r["minutes_in"],
        r["pieces"],
        r["drops_by_reason"],
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
