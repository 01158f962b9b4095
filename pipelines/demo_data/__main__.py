"""`python -m pipelines.demo_data [overrides]`: write the fictional demo exports to
`demo_data.output` (the raw chats folder), the demo recordings to `demo_data.audio`, the demo
photos to `demo_data.photos` and the demo camera clip to `demo_data.camera`, replacing each folder
as a whole, and the held-out memory questions to `demo_data.questions`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path, write_jsonl
from pipelines.demo_data import generate
from pipelines.demo_data.audio import write_demo_audio
from pipelines.demo_data.camera import write_camera
from pipelines.demo_data.photos import write_photos

# A hidden file (ingest and audio_prep skip hidden files) that marks a folder as ours to replace.
MARKER = stage.DEMO_MARKER


def replace_demo_folder(out: Path, fill: Callable[[Path], None], seed: int) -> None:
    """Write a demo folder with `fill(tmp)`, atomically; never over files the user put there."""
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        # Raw data is immutable: never overwrite exports the user put there.
        raise stage.StageError(
            f"{out} already holds files that demo_data did not write; it will not replace them. "
            "Move them, or point demo_data.output / audio / photos / camera (or paths.data) elsewhere."
        )
    with atomic_path(out) as tmp:
        tmp.mkdir()
        fill(tmp)
        (tmp / MARKER).write_text(
            f"Fictional demo data written by `python -m pipelines.demo_data` (seed {seed}); "
            "rerunning replaces this folder.\n",
            encoding="utf-8",
        )


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("demo_data", argv)
    seed = int(cfg.demo_data.seed)
    export = generate(cfg)

    def write_chats(folder: Path) -> None:
        for rel, data in export.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    replace_demo_folder(Path(cfg.demo_data.output), write_chats, seed)
    replace_demo_folder(Path(cfg.demo_data.audio), lambda folder: write_demo_audio(folder, seed), seed)
    replace_demo_folder(Path(cfg.demo_data.photos), lambda folder: write_photos(folder, seed), seed)
    replace_demo_folder(Path(cfg.demo_data.camera), lambda folder: write_camera(folder, seed), seed)
    write_jsonl(cfg.demo_data.questions, export.truth.memory_questions)
    counts = export.truth.counts
    stage.log.info(
        "demo_data: %d messages (%d rows in %d files, %d overlapping) -> %s; recordings -> %s, photos -> %s, "
        "camera -> %s",
        counts["messages"],
        counts["rows_written"],
        len(export.files),
        counts["family_overlap"],
        cfg.demo_data.output,
        cfg.demo_data.audio,
        cfg.demo_data.photos,
        cfg.demo_data.camera,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
