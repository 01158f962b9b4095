"""`python -m runtime call --bundle DIR`: the persona's face and voice, live, into a video call.

    call --bundle DIR                                   camera 0 -> virtual camera, default mic ->
                                                        "CABLE Input" (VB-CABLE), 48 kHz mono
    call --bundle DIR --mic "Headset" --speaker "CABLE Input" --monitor "Headphones"
    call --bundle DIR --no-video                        the voice alone (or --no-voice: the face alone)
    call --list-devices                                 audio devices, cameras, virtual camera
    call --bundle DIR --camera call.mp4 --out out.mp4 --mic-file me.wav --speaker-file persona.wav
                                                        files standing in for the devices

The bundle is verified before anything loads. Kill switch: the file STOP beside the bundle (or
`--kill-file`), or `k` in this console (or the preview window): from the next frame and the next
audio block on, the other side sees your own camera and hears your own voice. `q` or Ctrl+C ends the
call and releases the devices. A call log (JSON lines: events and a status record a second, never
audio, frames or words) goes to `logs/` beside the bundle unless `--log` says where.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

DEFAULT_SPEAKER = "CABLE Input"  # VB-CABLE's playback side: what WeChat then hears as "CABLE Output"


class CallError(Exception):
    """Printed as `call: <message>`, exit code 2."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from runtime.face.cli import add_video_arguments
    from runtime.voice.cli import add_settings_arguments

    p.add_argument("--bundle", help="a Still bundle with voice and/or face components (verified first)")
    p.add_argument("--list-devices", action="store_true", help="list audio devices and cameras, then exit")
    p.add_argument("--no-video", action="store_true", help="the voice alone")
    p.add_argument("--no-voice", action="store_true", help="the face alone")
    video = p.add_argument_group("video")
    add_video_arguments(video)
    voice = p.add_argument_group("voice")
    voice.add_argument(
        "--mic", default=None, help="microphone: name (part of it) or index; default: the system's"
    )
    voice.add_argument(
        "--speaker", default=DEFAULT_SPEAKER, help="the persona's voice goes here (virtual cable)"
    )
    voice.add_argument("--monitor", default=None, help="also play the persona's voice here (headphones)")
    voice.add_argument("--samplerate", type=int, default=48000, help="the device format's rate (mono)")
    voice.add_argument(
        "--gate-db", type=float, default=-45.0, help="noise gate: blocks quieter than this are silence"
    )
    voice.add_argument(
        "--mic-file", type=Path, default=None, help="a recording standing in for the microphone"
    )
    voice.add_argument("--speaker-file", type=Path, default=None, help="a wav file standing in for --speaker")
    spoken = "a recording ('this is an AI voice') spoken in the persona's voice first"
    voice.add_argument("--disclosure-audio", type=Path, default=None, help=spoken)
    add_settings_arguments(voice)
    video.add_argument(
        "--video-delay", default="auto",
        help="seconds the video waits so lips match the converted voice (auto: the voice's latency; 0: none)",
    )  # fmt: skip
    p.add_argument(
        "--no-disclosure", action="store_true", help="no AI mark on the video, no spoken disclosure"
    )
    p.add_argument("--seconds", type=float, default=None, help="end after this long (default: Ctrl+C or q)")
    p.add_argument("--kill-file", type=Path, default=None, help="default: STOP beside the bundle")
    p.add_argument("--log", type=Path, default=None, help="the call log (JSON lines)")
    p.add_argument("--report", type=Path, default=None, help="write the call's final report (JSON) here")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (face and voice each)")


def main(args: argparse.Namespace) -> int:
    from runtime.bundle import BundleError

    try:
        if args.list_devices:
            print("\n".join(device_lines()))
            return 0
        if not args.bundle:
            raise CallError("--bundle DIR is needed (or --list-devices)")
        report = call(args)
    except (CallError, BundleError) as e:
        print(f"call: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a device or model error from a part: say which, no traceback for users
        if not any(c.__name__ in EXPECTED for c in type(e).__mro__):
            raise
        print(f"call: {e}", file=sys.stderr)
        return 2
    if args.report:
        from runtime.atomic import write_json

        write_json(args.report, report)
    print(json.dumps(report, indent=2))  # ASCII: a cp936 console prints any device name
    return 0


# errors whose message is the whole story for a user (missing files, devices, models, settings)
# (by name: their modules need the extras a voice-only or face-only install may lack)
EXPECTED = {"DeviceError", "AudioDeviceError", "VoiceModelError", "PitchUnavailable", "FaceSetError",
            "FileNotFoundError", "ImportError", "ValueError"}  # fmt: skip


def call(args: argparse.Namespace) -> dict:
    from runtime.bundle import open_bundle
    from runtime.call.keys import NoKeys, console_keys
    from runtime.call.session import CallLog, default_log_path, run_call
    from runtime.kill import KillSwitch

    bundle = open_bundle(args.bundle)  # every checksum, before any model loads
    want_video, want_voice = not args.no_video, not args.no_voice
    if not (want_video or want_voice):
        raise CallError("--no-video and --no-voice together leave nothing to run")
    if want_video and bundle.face is None:
        raise CallError(f"{args.bundle} has no face component: rebuild it with package.include_face=true "
                        "after dvc repro face_export, or call with --no-video")  # fmt: skip
    if want_voice and bundle.voice is None:
        raise CallError(f"{args.bundle} has no voice component: rebuild it with package.include_voice=true "
                        "after dvc repro voice_export, or call with --no-voice")  # fmt: skip
    if (args.mic_file is None) != (args.speaker_file is None):
        raise CallError("--mic-file and --speaker-file stand in for the devices together: give both")
    kill = KillSwitch(args.kill_file or Path(args.bundle).resolve().parent / "STOP")
    log = CallLog(args.log or default_log_path(args.bundle))
    print(f"call: log {log.path}", file=sys.stderr)
    stop = threading.Event()
    video = voice = None
    running = False
    try:
        if want_voice:
            voice, voice_info = voice_part(args, bundle.voice, kill, log)
            log.write("voice", **voice_info)
        if want_video:
            video, video_info = video_part(args, bundle.face, kill, stop)
            video.delay = video_delay(args.video_delay, voice)
            log.write("video", **video_info, delay_s=round(video.delay, 3))
        disclosed = "the video carries an AI mark" if want_video and not args.no_disclosure else None
        print(f"call: running{'; ' + disclosed if disclosed else ''}; k = your own face and voice, q = end",
              file=sys.stderr)  # fmt: skip
        files = args.mic_file is not None or (want_video and not str(args.camera).isdigit())
        keys = NoKeys() if files else console_keys()

        def status(line: str) -> None:
            print("\r" + line[:220], end="", file=sys.stderr, flush=True)

        running = True  # from here on, run_call releases every device itself
        report = run_call(video, voice, kill, log, seconds=args.seconds, stop=stop, keys=keys, status=status)
        print(file=sys.stderr)
    except BaseException as e:
        if not running:
            log.write("error", part="start", error=f"{type(e).__name__}: {e}")
            release(video, voice)
        raise
    finally:
        log.close()
    return {"log": str(log.path), **report}


def video_delay(setting: str, voice) -> float:
    """`auto`: as long as the voice takes to come out (algorithmic latency + the resamplers'
    margin), so the other side sees the lips move with the words; a number: that many seconds."""
    if setting != "auto":
        try:
            seconds = float(setting)
        except ValueError:
            raise CallError(f"--video-delay {setting!r}: give seconds (0.3) or auto") from None
        if not 0 <= seconds <= 2:
            raise CallError(f"--video-delay {seconds}: between 0 and 2 seconds")
        return seconds
    if voice is None:
        return 0.0
    from runtime.voice.convert import SR16
    from runtime.voice.live import MARGIN16

    return voice.link.live.sc.latency_s + MARGIN16 / SR16


def release(video, voice) -> None:
    """Close what a call that never started had opened."""
    if voice is not None:
        voice.device.close()
        if voice.monitor is not None:
            voice.monitor.close()
    if video is not None:
        video.source.close()


def voice_part(args: argparse.Namespace, voice_dir, kill, log):
    from runtime.voice.cli import settings_of
    from runtime.voice.convert import StreamingConverter, VoiceConverter
    from runtime.voice.live import LiveVoice
    from runtime.voice.loop import NoiseGate, VoiceLink, VoiceLoop

    vc = VoiceConverter(voice_dir, settings_of(args), args.backend, args.threads)
    live = LiveVoice(StreamingConverter(vc), args.samplerate)
    intro = None
    if args.disclosure_audio and not args.no_disclosure:
        from runtime.voice.devices import read_recording

        intro = read_recording(args.disclosure_audio, args.samplerate, "disclosure recording")
    link = VoiceLink(live, NoiseGate(args.gate_db, args.gate_db - 5.0), kill, intro)
    opener, monitor, names = audio_opener(args, live.device_block)
    loop = VoiceLoop(link, opener, event=log.write, monitor=monitor)
    info = {
        "devices": names,
        "samplerate": args.samplerate,
        "block_ms": round(1000 * live.device_block / args.samplerate),
        "algorithmic_latency_ms": round(1000 * live.sc.latency_s),
        "spoken_disclosure": intro is not None,
        "providers": sorted({s.get_providers()[0] for s in _sessions(vc)}),
    }
    return loop, info


def _sessions(vc) -> list:
    return [p.session for p in (vc.content, vc.synth) if hasattr(p, "session")]


def audio_opener(args: argparse.Namespace, block: int):
    """(open(rate, block) -> duplex, monitor or None, device names for the log)."""
    from runtime.voice import devices as audio

    if args.mic_file is not None:
        return (lambda rate, block: audio.FileDuplex(args.mic_file, args.speaker_file, rate, block),
                None, {"mic": str(args.mic_file), "speaker": str(args.speaker_file)})  # fmt: skip
    sd = audio.load_sounddevice()
    open_duplex, mic, out = audio.duplex_opener(sd, args.mic, args.speaker)
    monitor = None
    if args.monitor is not None:
        device = audio.pick_output(audio.list_devices(sd), args.monitor)
        audio.check_format(sd, None, device, args.samplerate)
        monitor = audio.MonitorOutput(sd, device, args.samplerate, block)
    return open_duplex, monitor, {"mic": mic.label(), "speaker": out.label(),
                                  "monitor": None if args.monitor is None else args.monitor}  # fmt: skip


def video_part(args: argparse.Namespace, face_dir, kill, stop):
    from runtime.call.session import VideoPart
    from runtime.face.cli import engine_from_args, sinks_from_args
    from runtime.face.live import open_source

    source = None
    if not str(args.camera).isdigit():  # a file camera, paced like one, at its own frame rate by default
        source = open_source(args.camera, paced=True)
        args.fps = args.fps or source.fps
    try:
        engine, info = engine_from_args(face_dir, args, kill)
        source = source or open_source(
            args.camera, args.resolution, engine.s.fps
        )  # a camera at the live rate
        sink = sinks_from_args(args, engine.s.fps, kill, stop)
    except BaseException:
        if source is not None:
            source.close()
        raise
    return VideoPart(source, engine, sink, engine.s.fps), {k: v for k, v in info.items() if k != "settings"}


def device_lines() -> list[str]:
    """What --list-devices prints: audio devices (virtual cables marked), cameras that open, and
    whether a virtual camera back-end is installed."""
    from runtime.voice import devices as audio

    lines = ["audio devices (--mic / --speaker / --monitor take a name or an index):"]
    try:
        sd = audio.load_sounddevice()
        default_in, default_out = sd.default.device
        for d in audio.list_devices(sd):
            marks = [
                mark
                for mark, on in (
                    ("default mic", d.index == default_in),
                    ("default output", d.index == default_out),
                    ("virtual cable", is_virtual_cable(d.name)),
                )
                if on
            ]
            lines.append(f"  {d.line()}" + (f"  <- {', '.join(marks)}" if marks else ""))
    except audio.AudioDeviceError as e:
        lines.append(f"  {e}")
    lines.append("cameras (--camera N):")
    lines += [f"  {line}" for line in camera_lines()]
    try:
        import pyvirtualcam  # noqa: F401

        lines.append(
            "virtual camera: pyvirtualcam installed (OBS Virtual Camera or Unity Capture must be set up)"
        )
    except ImportError:
        lines.append("virtual camera: pyvirtualcam MISSING: pip install pyvirtualcam (or .[face])")
    return lines


def is_virtual_cable(name: str) -> bool:
    return any(k in name.lower() for k in ("cable", "vb-audio", "voicemeeter", "virtual"))


def camera_lines(indices=range(5), capture=None) -> list[str]:
    try:
        import cv2
    except ImportError:
        return ["OpenCV MISSING: pip install opencv-python (or .[face])"]
    from runtime.face.live import camera_api

    capture = capture or cv2.VideoCapture
    found = []
    for i in indices:
        cap = capture(i, camera_api())
        if cap.isOpened():
            found.append(
                f"[{i}] {int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
            )
        cap.release()
    return found or ["none found (in use by another app, or not plugged in)"]
