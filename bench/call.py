"""Benchmark: call mode on this machine, face and voice together against each alone, in one run.

    OMP_NUM_THREADS=1 python bench/call.py [--bundle data/dist/demo] [--seconds 11] [--append]

The demo call's files stand in for the devices, paced in real time as devices would be
(data/raw/camera/demo_call.mp4 at 25 fps, demo_call.wav at 48 kHz): the real `call` path
(runtime.call.cli's parts, runtime.call.session.run_call) three times: face alone, voice alone, both.

Reported per run: video frames out / processed per second (the engine keeps up when processed ~ the
camera's 25 fps), the engine's ms per frame; voice RTF (compute per block / block length: above 1 the
voice cannot keep up), late blocks, latency (algorithmic + compute + device); the CPU share of each
part (CPU seconds its own work took on its threads, `time.thread_time`, over wall seconds; 2.0 = both
cores); resident memory before the run's models load and at its peak (Linux; the three runs share
one process, so later rows start from what earlier ones left), next to the call-mode estimate
`doctor` prints. `--append` adds the table to bench/RESULTS.md under today's date.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime import doctor  # noqa: E402
from runtime.bundle import open_bundle  # noqa: E402
from runtime.call import cli as call_cli  # noqa: E402
from runtime.call.session import CallLog, run_call  # noqa: E402
from runtime.kill import KillSwitch  # noqa: E402
from runtime.onnx_sessions import available_providers  # noqa: E402


def rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class CpuMeter:
    """CPU seconds spent inside `fn` on whichever thread calls it."""

    def __init__(self, fn):
        self.fn, self.cpu, self.lock = fn, 0.0, threading.Lock()

    def __call__(self, *a, **k):
        t0 = time.thread_time()
        try:
            return self.fn(*a, **k)
        finally:
            with self.lock:
                self.cpu += time.thread_time() - t0


def one_run(
    bundle, camera: Path, mic: Path, video: bool, voice: bool, out: Path, seconds: float | None
) -> dict:
    p = argparse.ArgumentParser()
    call_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(bundle.root), "--camera", str(camera), "--out", str(out / "out.mp4"),
                         "--mic-file", str(mic), "--speaker-file", str(out / "persona.wav"), "--fps", "25",
                         "--threads", "1"])  # fmt: skip
    kill, stop = KillSwitch(), threading.Event()
    log = CallLog(None)
    rss0 = rss_bytes()
    v = a = None
    if voice:
        a, _ = call_cli.voice_part(args, bundle.voice, kill, log)
        a.link.step = voice_cpu = CpuMeter(a.link.step)
    if video:
        v, _ = call_cli.video_part(args, bundle.face, kill, stop)
        v.engine.process = video_cpu = CpuMeter(v.engine.process)
    peak = [rss_bytes() or 0]

    def status(_line):
        peak[0] = max(peak[0], rss_bytes() or 0)

    t0 = time.perf_counter()
    report = run_call(v, a, kill, log, seconds=seconds, stop=stop, status=status)
    wall = time.perf_counter() - t0
    row = {"wall": wall, "rss_peak": peak[0] or None, "rss_start": rss0}
    if video:
        r, e = report["video"], report["video"]["engine"]
        row |= {
            "fps_out": r["fps_out"],
            "fps_processed": e["frames"] / wall,
            "frame_ms": e["frame_ms"]["mean"],
            "video_cpu": video_cpu.cpu / wall,
            "dropped": r["dropped"],
        }
    if voice:
        r = report["voice"]
        row |= {"rtf": r["compute_ms"]["mean"] / r["block_ms"], "late": r["late_blocks"],
                "latency": r["latency_ms"]["total"], "voice_cpu": voice_cpu.cpu / wall}  # fmt: skip
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, default=REPO / "data" / "dist" / "demo")
    p.add_argument("--camera", type=Path, default=REPO / "data" / "raw" / "camera" / "demo_call.mp4")
    p.add_argument("--mic", type=Path, default=REPO / "data" / "raw" / "camera" / "demo_call.wav")
    p.add_argument("--seconds", type=float, default=None, help="default: until the demo call's files end")
    p.add_argument("--append", action="store_true")
    args = p.parse_args()
    bundle = open_bundle(args.bundle)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, video, voice in (
            ("face alone", True, False),
            ("voice alone", False, True),
            ("both", True, True),
        ):
            rows[name] = one_run(bundle, args.camera, args.mic, video, voice, Path(tmp), args.seconds)
    face, voice, both = rows["face alone"], rows["voice alone"], rows["both"]
    estimate = doctor.call_memory(bundle)
    lines = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads, providers "
        f"{available_providers()}; demo call stand-ins paced in real time",
        "",
        "| run | video fps out / processed | engine ms/frame | video CPU | voice RTF | late blocks | "
        "voice latency ms | voice CPU | RSS before loading -> peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cell(r, key, fmt):
        return fmt.format(r[key]) if key in r else "–"

    for name, r in rows.items():
        fps = f"{r['fps_out']:.1f} / {r['fps_processed']:.1f}" if "fps_out" in r else "–"
        rss = (
            f"{r['rss_start'] / 2**20:.0f} -> {r['rss_peak'] / 2**20:.0f} MiB" if r.get("rss_peak") else "n/a"
        )
        formats = {"frame_ms": "{:.1f}", "video_cpu": "{:.2f}", "rtf": "{:.2f}", "late": "{}",
                   "latency": "{:.0f}", "voice_cpu": "{:.2f}"}  # fmt: skip
        cells = [fps, *(cell(r, key, fmt) for key, fmt in formats.items()), rss]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Together vs alone: video processed {both['fps_processed'] / face['fps_processed']:.2f}x, engine ms "
        f"{both['frame_ms'] / face['frame_ms']:.2f}x, voice RTF {both['rtf'] / voice['rtf']:.2f}x. "
        f"doctor's call-mode estimate for this bundle: {estimate / 2**20:.0f} MiB.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.append:
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write(
                f"\n## {datetime.date.today()} — call mode, face + voice vs each alone (`bench/call.py`)\n\n"
            )
            f.write(table + "\n")


if __name__ == "__main__":
    main()
