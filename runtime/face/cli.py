"""`python -m runtime face-live --bundle DIR`: the persona's face on the caller, live or from a file.

    face-live --bundle DIR                                  camera 0 -> virtual camera (+ --preview)
    face-live --bundle DIR --camera call.mp4 --out out.mp4  a video file, every frame (report: out.json)
    face-live --bundle DIR --swapper inswapper --swapper-model inswapper_128.onnx

The kill switch: the file STOP beside the bundle (or `--kill-file`), or `k` in the preview window,
switches to the caller's own camera from the next frame on.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="a Still bundle with a face component (verified first)")
    add_video_arguments(p)
    p.add_argument("--no-disclosure", action="store_true", help="no visible AI mark on the video")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl+C)")
    p.add_argument("--kill-file", type=Path, default=None, help="default: STOP beside the bundle")
    p.add_argument("--report", type=Path, default=None, help="write the run's report (JSON) here")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")


def add_video_arguments(p: argparse.ArgumentParser) -> None:
    """The video options face-live and call share."""
    p.add_argument("--camera", default="0", help="camera index, or a video file (a stand-in for the camera)")
    p.add_argument("--resolution", choices=("4k", "1080p", "720p"), default="1080p", help="camera request")
    p.add_argument("--out", default="virtual", help="virtual (virtual camera), preview, or a video file")
    p.add_argument("--preview", action="store_true", help="also show the output in a window")
    p.add_argument("--virtual-backend", default=None, help="pyvirtualcam: obs, unitycapture, v4l2loopback")
    p.add_argument(
        "--swapper",
        choices=("classic", "inswapper", "dfm"),
        default=None,
        help="default: the bundle's (classic: a landmark swap that needs no downloaded model)",
    )
    p.add_argument("--swapper-model", default=None, help="inswapper_128.onnx or a DeepFaceLive .dfm file")
    p.add_argument("--recogniser", default=None, help="ArcFace ONNX (w600k_r50.onnx) if the bundle has none")
    p.add_argument("--enhancer", default=None, help="GFPGAN/GPEN ONNX face restorer (optional)")
    p.add_argument("--process-height", type=int, default=None, help="frames are processed at most this tall")
    p.add_argument("--fps", type=float, default=None, help="output frame rate of the live path")
    p.add_argument("--detect-every", type=int, default=None)
    p.add_argument("--mouth-mask", action="store_true", default=None, help="keep the caller's own mouth")


def engine_from_args(face_dir, args: argparse.Namespace, kill):
    """The live engine for the bundle's face with the command line's changes; (engine, info)."""
    from runtime.face.live import build_engine

    return build_engine(
        face_dir,
        swapper=args.swapper,
        swapper_model=args.swapper_model,
        recogniser=args.recogniser,
        enhancer=args.enhancer,
        kill=kill,
        threads=args.threads,
        changes={
            "process_height": args.process_height,
            "fps": args.fps,
            "detect_every": args.detect_every,
            "mouth_mask": args.mouth_mask,
            "disclosure": False if args.no_disclosure else None,
        },
    )


def sinks_from_args(args: argparse.Namespace, fps: float, kill, stop: threading.Event):
    """virtual camera | preview | a video file at `fps`, plus the preview window if asked for."""
    from runtime.face import live

    sinks = []
    if args.out == "virtual":
        sinks.append(live.VirtualCameraSink(fps, args.virtual_backend))
    elif args.out != "preview":
        sinks.append(live.VideoFileSink(args.out, fps))
    if args.preview or args.out == "preview":
        sinks.append(live.PreviewSink(kill, stop))
    return sinks[0] if len(sinks) == 1 else live.Tee(*sinks)


def main(args: argparse.Namespace) -> int:
    from runtime.atomic import write_json
    from runtime.bundle import BundleError, open_bundle
    from runtime.face.faceset import FaceSetError
    from runtime.face.live import DeviceError, open_source
    from runtime.kill import KillSwitch

    try:
        bundle = open_bundle(args.bundle)
        if bundle.face is None:
            raise BundleError(
                f"{args.bundle} has no face component: rebuild it with "
                "package.include_face=true after dvc repro face_export"
            )
        kill = KillSwitch(args.kill_file or Path(args.bundle).resolve().parent / "STOP")
        engine, info = engine_from_args(bundle.face, args, kill)
        print(
            f"face-live: swapper {info['swapper']} on {info['provider']}"
            + ("" if args.no_disclosure else "; the video carries an AI mark"),
            file=sys.stderr,
        )
        source = open_source(args.camera, args.resolution, engine.s.fps)
        report = {**info, **run(args, source, engine, kill)}
    except (BundleError, FaceSetError, DeviceError, FileNotFoundError, ValueError, ImportError) as e:
        print(f"face-live: {e}", file=sys.stderr)
        return 2
    if args.report:
        write_json(args.report, report)
    print(json.dumps({k: v for k, v in report.items() if k != "settings"}, indent=2))
    return 0


def run(args, source, engine, kill) -> dict:
    from runtime.atomic import write_json
    from runtime.face import live

    stop = threading.Event()
    file_to_file = isinstance(source, live.VideoFileSource) and args.out not in ("virtual", "preview")
    sink = sinks_from_args(args, source.fps if file_to_file else engine.s.fps, kill, stop)
    if file_to_file:
        report = live.convert(source, engine, sink, source.fps)  # file to file: every frame, no clock
        write_json(Path(args.out).with_suffix(".json"), report)
        return report

    def status(r):
        print("\r" + live.status_text(r), end="", file=sys.stderr, flush=True)

    report = live.run_live(source, engine, sink, engine.s.fps, args.seconds, stop, status)
    print(file=sys.stderr)
    return report
