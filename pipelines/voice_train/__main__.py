"""`python -m pipelines.voice_train [overrides]`: train the voice model (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from pipelines import audio_io, stage
from pipelines.voice_train import run


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("voice_train", argv)
    c = cfg.voice_train
    src = Path(c.input)
    manifest = src / "manifest.jsonl"
    rows = stage.read_jsonl(manifest, "voice_features")
    if not rows:
        raise stage.StageError(f"{manifest} lists no pieces: check audio_clean's report")

    def read_wav(path: str, sr: int):
        x, sr_in = audio_io.read_listed_wav(path, manifest, "audio_clean")
        return audio_io.resample(x, sr_in, sr) if sr_in != sr else x

    summary = run(cfg, rows, src, read_wav, Path(c.output))
    first, last = summary["first_losses"] or {}, summary["last_losses"] or {}  # None: nothing left to train
    stage.log.info(
        "voice_train: %d of %d pieces (too short: see summary.json), %d steps, mel loss %s -> %s, "
        "index %d vectors -> %s/model",
        summary["pieces"]["used"],
        summary["pieces"]["manifest"],
        summary["steps"],
        first.get("g/mel"),
        last.get("g/mel"),
        summary["index"]["vectors"],
        c.output,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
