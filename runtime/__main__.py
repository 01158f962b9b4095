"""`python -m runtime doctor|chat|call --bundle DIR`: the Windows side of Still.

    python -m runtime doctor --bundle data/dist/demo          # integrity, devices, memory budget
    python -m runtime chat --bundle data/dist/demo            # chat with the persona in this terminal
    python -m runtime chat --bundle DIR --transport replay --log chat.jsonl --out sent.jsonl
    python -m runtime chat --bundle DIR --transport wechat --allow-chat "家人群"
    python -m runtime voice-convert IN.wav OUT.wav --bundle data/dist/demo   # the persona's voice
    python -m runtime voice-live --bundle data/dist/demo                    # microphone -> speakers
    python -m runtime face-live --bundle data/dist/demo                     # camera -> virtual camera
    python -m runtime call --bundle data/dist/demo          # face + voice into a WeChat video call

Runs offline: models load from the bundle only (HF_HUB_OFFLINE is forced on).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"  # privacy is structural: never reach a model hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def main(argv: list[str] | None = None) -> int:
    from runtime.console_io import safe_streams

    safe_streams()  # before anything is read or printed (a cp936 console, UTF-8 pipes)
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="verify a bundle and check this machine can run it")
    doctor.add_argument("--bundle", required=True)
    doctor.add_argument(
        "--trust-new-key",
        action="store_true",
        help="accept a known bundle signed by a new key (rebuilt elsewhere)",
    )
    from runtime.chat import add_arguments as chat_arguments

    chat_arguments(commands.add_parser("chat", help="let the persona chat (console, replay, wechat)"))
    from runtime.call import cli as call_cli

    call_cli.add_arguments(
        commands.add_parser("call", help="the persona's face and voice, live, into a video call")
    )
    from runtime.voice import cli as voice_cli

    voice_cli.add_arguments(commands.add_parser("voice-convert", help="convert a wav file with a voice"))
    live = commands.add_parser("voice-live", help="microphone -> the voice -> speakers")
    voice_cli.add_live_arguments(live)
    from runtime.face import cli as face_cli

    face_cli.add_arguments(
        commands.add_parser("face-live", help="camera -> the persona's face -> virtual camera")
    )
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from runtime.doctor import report

        code, lines = report(args.bundle, args.trust_new_key)
        print("\n".join(lines))
        return code
    if args.command == "chat":
        from runtime.chat import main as chat

        return chat(args)
    if args.command == "voice-convert":
        from runtime.voice.cli import main as voice_convert

        return voice_convert(args)
    if args.command == "face-live":
        from runtime.face.cli import main as face_live

        return face_live(args)
    if args.command == "voice-live":
        from runtime.voice.cli import live_main

        return live_main(args)
    if args.command == "call":
        return call_cli.main(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
