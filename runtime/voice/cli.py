"""`python -m runtime voice-convert IN.wav OUT.wav --bundle DIR | --model DIR`: file-in/file-out voice
conversion through the streaming converter (or `--offline`: the whole file at once); no audio devices
needed. `--bundle` takes the verified bundle's voice; `--model` a voice_export folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from runtime.voice.convert import Settings

    d = Settings()
    p.add_argument("input")
    p.add_argument("output")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a Still bundle with a voice component (checksums verified first)")
    source.add_argument("--model", help="folder written by voice_export (has voice.json)")
    p.add_argument("--backend", choices=("onnx", "torch"), default="onnx")
    p.add_argument("--pitch", default=d.pitch, help="pitch extractor: yin, fcpe, harvest, dio, crepe, ...")
    p.add_argument("--transpose", type=float, default=d.transpose, help="semitones")
    p.add_argument("--index-rate", type=float, default=d.index_rate)
    p.add_argument("--protect", type=float, default=d.protect)
    p.add_argument("--block", type=float, default=d.block, help="seconds")
    p.add_argument("--crossfade", type=float, default=d.crossfade)
    p.add_argument("--extra", type=float, default=d.extra)
    p.add_argument("--silence-db", type=float, default=d.silence_db)
    p.add_argument("--offline", action="store_true", help="convert the whole file at once")
    p.add_argument("--threads", type=int, default=None)


def main(args: argparse.Namespace) -> int:
    from runtime.voice.convert import Settings, VoiceModelError, convert_file
    from runtime.voice.pitch import PitchUnavailable

    settings = Settings(
        transpose=args.transpose,
        index_rate=args.index_rate,
        protect=args.protect,
        pitch=args.pitch,
        block=args.block,
        crossfade=args.crossfade,
        extra=args.extra,
        silence_db=args.silence_db,
    )
    if not Path(args.input).is_file():
        print(f"voice-convert: {args.input} not found", file=sys.stderr)
        return 2
    model = args.model
    if args.bundle:
        from runtime.bundle import BundleError, open_bundle

        try:
            model = open_bundle(args.bundle).voice
        except BundleError as e:
            print(f"voice-convert: {e}", file=sys.stderr)
            return 2
        if model is None:
            print(f"voice-convert: {args.bundle} has no voice component (rebuild it with "
                  "package.include_voice=true after dvc repro voice_export)", file=sys.stderr)  # fmt: skip
            return 2
    try:
        report = convert_file(
            args.input,
            args.output,
            model,
            settings,
            args.backend,
            streaming=not args.offline,
            threads=args.threads,
        )
    except (VoiceModelError, PitchUnavailable, FileNotFoundError) as e:
        print(f"voice-convert: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
