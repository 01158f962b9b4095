"""The voice commands of `python -m runtime`; both take `--bundle DIR` (the verified bundle's voice) or
`--model DIR` (a voice_export folder), and the same converter settings.

    voice-convert IN.wav OUT.wav   file in, file out through the streaming converter (or `--offline`:
                                   the whole file at once); no audio devices needed
    voice-live                     microphone -> speakers, live (sounddevice + PortAudio)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class CommandError(Exception):
    """Printed as `<command>: <message>`, exit code 2."""


def add_converter_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a Still bundle with a voice component (checksums verified first)")
    source.add_argument("--model", help="folder written by voice_export (has voice.json)")
    add_settings_arguments(p)
    p.add_argument("--threads", type=int, default=None)


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The converter's settings (voice commands and call share them)."""
    from runtime.voice.convert import Settings

    d = Settings()
    p.add_argument("--backend", choices=("onnx", "torch"), default="onnx")
    p.add_argument("--pitch", default=d.pitch, help="pitch extractor: yin, fcpe, rmvpe, harvest, crepe, ...")
    p.add_argument("--pitch-model", default=None, help="weights for --pitch rmvpe (rmvpe.pt)")
    p.add_argument("--transpose", type=float, default=d.transpose, help="semitones")
    p.add_argument("--index-rate", type=float, default=d.index_rate)
    p.add_argument("--protect", type=float, default=d.protect)
    p.add_argument("--block", type=float, default=d.block, help="seconds")
    p.add_argument("--crossfade", type=float, default=d.crossfade)
    p.add_argument("--extra", type=float, default=d.extra)
    p.add_argument("--silence-db", type=float, default=d.silence_db)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input")
    p.add_argument("output")
    add_converter_arguments(p)
    p.add_argument("--offline", action="store_true", help="convert the whole file at once")


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    add_converter_arguments(p)
    p.add_argument("--samplerate", type=int, default=48000, help="device sample rate")
    p.add_argument("--input-device", default=None, help="name or index (`python -m sounddevice` lists them)")
    p.add_argument("--output-device", default=None)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl+C)")


def settings_of(args: argparse.Namespace):
    from runtime.voice.convert import Settings

    return Settings(
        transpose=args.transpose,
        index_rate=args.index_rate,
        protect=args.protect,
        pitch=args.pitch,
        pitch_model=args.pitch_model,
        block=args.block,
        crossfade=args.crossfade,
        extra=args.extra,
        silence_db=args.silence_db,
    )


def model_folder(args: argparse.Namespace) -> str | Path:
    if not args.bundle:
        return args.model
    from runtime.bundle import BundleError, open_bundle

    try:
        model = open_bundle(args.bundle).voice
    except BundleError as e:
        raise CommandError(str(e)) from None
    if model is None:
        raise CommandError(f"{args.bundle} has no voice component (rebuild it with "
                           "package.include_voice=true after dvc repro voice_export)")  # fmt: skip
    return model


def _device(value):
    return int(value) if value is not None and str(value).isdigit() else value


def run_command(name: str, body) -> int:
    from runtime.voice.convert import VoiceModelError
    from runtime.voice.pitch import PitchUnavailable

    try:
        report = body()
    except (CommandError, VoiceModelError, PitchUnavailable, FileNotFoundError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def main(args: argparse.Namespace) -> int:
    """voice-convert."""
    from runtime.voice.convert import convert_file

    def body():
        if not Path(args.input).is_file():
            raise CommandError(f"{args.input} not found")
        return convert_file(
            args.input,
            args.output,
            model_folder(args),
            settings_of(args),
            args.backend,
            streaming=not args.offline,
            threads=args.threads,
        )

    return run_command("voice-convert", body)


def live_main(args: argparse.Namespace) -> int:
    """voice-live."""
    from runtime.voice import live
    from runtime.voice.convert import StreamingConverter, VoiceConverter

    def body():
        vc = VoiceConverter(model_folder(args), settings_of(args), args.backend, args.threads)
        print("voice-live: this is an AI voice, not the person's own", file=sys.stderr)
        return live.run(
            StreamingConverter(vc),
            args.samplerate,
            _device(args.input_device),
            _device(args.output_device),
            args.seconds,
        )

    return run_command("voice-live", body)
