"""One call: the live face (runtime.face.live.run_live) and the live voice (runtime.call.voice) on
their own threads, one kill switch, one status line, one call log.

    report = run_call(video, voice, kill, log)   # until Ctrl+C, `q`, `seconds`, or the stand-ins end

The main thread watches: hotkeys, the kill switch (logged when it engages), a status line and a
status record in the log every second. Once a second the two media clocks are compared: seconds of
video sent (frames plus skipped ticks over the frame rate) minus seconds of audio sent. That offset
is constant in a healthy call (the parts start a moment apart); `av_drift_ms` is how far it has
moved: its median over the last minute against its median over the first, so a thread that was
scheduled a few milliseconds late at the moment of a sample does not count as drift, and a call
whose audio slowly falls behind its video (or the other way) does.
A thread that fails ends the call: everything is stopped and released, then the error is raised.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from runtime.clock import SYSTEM


@dataclass
class VideoPart:
    source: object
    engine: object  # runtime.face.engine.LiveFace
    sink: object
    fps: float
    delay: float = 0.0  # seconds each frame is held back: the voice's latency, so lips match the voice


@dataclass
class DriftMeter:
    """Offsets between the video and the audio clocks, sampled once a second (bounded memory)."""

    window: int = 60
    first: list = field(default_factory=list)
    last: deque = field(default_factory=lambda: deque(maxlen=60))

    def add(self, offset_s: float) -> None:
        if len(self.first) < self.window:
            self.first.append(offset_s)
        self.last.append(offset_s)

    @property
    def drift_ms(self) -> float | None:
        if not self.first:
            return None
        return round(1000 * abs(statistics.median(self.last) - statistics.median(self.first)), 1)


class CallLog:
    """JSON lines for diagnosis: events and a status record a second; never audio, frames or text.
    Each line is flushed as it is written, so a crash keeps everything before it."""

    def __init__(self, path: str | Path | None, clock=SYSTEM):
        self.path, self.clock = (Path(path) if path else None), clock
        self.start = clock.now()
        self.lock = threading.Lock()
        self.file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("a", encoding="utf-8", newline="\n")

    def write(self, event: str, **fields) -> None:
        record = {
            "t": round(self.clock.now() - self.start, 3),
            "utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "event": event,
            **fields,
        }
        if self.file is None:
            return
        with self.lock:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            with self.lock:
                self.file.close()
                self.file = None


def default_log_path(bundle: str | Path) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(bundle).resolve().parent / "logs" / f"call-{stamp}-{os.getpid()}.jsonl"


def status_line(snap: dict) -> str:
    from runtime.face.live import status_text

    parts = [status_text(snap["video"])] if snap.get("video") else []
    a = snap.get("voice")
    if a:
        lat = a["latency_ms"]
        parts.append(
            f"voice {lat['total']:.0f} ms (algorithmic {lat['algorithmic']:.0f} + compute "
            f"{lat['compute']:.0f} + "
            f"device {lat['device']:.0f}), late {a['late_blocks']}, gaps {a['device_gaps']}"
        )
    if snap.get("av_drift_ms") is not None:
        parts.append(f"A/V drift {snap['av_drift_ms']:.0f} ms")
    if snap.get("own"):
        parts.append("KILL SWITCH: your own face and voice")
    return " | ".join(parts)


def run_call(
    video: VideoPart | None,
    voice,
    kill,
    log: CallLog,
    clock=SYSTEM,
    seconds: float | None = None,
    stop: threading.Event | None = None,
    keys=None,
    status=None,
    tick: float = 0.02,
) -> dict:
    """Run the parts until the end; returns the call's report (also the log's last record)."""
    stop = stop or threading.Event()
    results: dict = {}
    errors: list[BaseException] = []
    latest: dict = {}
    drift = DriftMeter()

    def sample_drift(video_report: dict) -> None:
        """Called by the video thread once a second, next to the voice's clock."""
        latest["video"] = video_report
        if voice is not None:
            drift.add(
                (video_report["frames_out"] + video_report["skipped_ticks"]) / video.fps - voice.media_s
            )

    def video_thread():
        from runtime.face.live import run_live  # OpenCV: only when there is video

        try:
            results["video"] = run_live(video.source, video.engine, video.sink, video.fps, None, stop,
                                        sample_drift, clock, video.delay)  # fmt: skip
        except BaseException as e:
            errors.append(e)
            log.write("error", part="video", error=f"{type(e).__name__}: {e}")
            stop.set()

    def voice_thread():
        try:
            voice.run(stop)
        except BaseException as e:
            errors.append(e)
            log.write("error", part="voice", error=f"{type(e).__name__}: {e}")
            stop.set()

    threads = []
    if video is not None:
        threads.append(threading.Thread(target=video_thread, name="call-video", daemon=True))
    if voice is not None:
        threads.append(threading.Thread(target=voice_thread, name="call-voice", daemon=True))
    if not threads:
        raise ValueError("a call needs video, voice or both")
    log.write("start", video=video is not None, voice=voice is not None)
    for th in threads:
        th.start()

    def snapshot() -> dict:
        snap = {"own": kill.engaged()}
        if "video" in latest:
            snap["video"] = latest["video"]
        if voice is not None:
            snap["voice"] = voice.report()
        if drift.drift_ms is not None:
            snap["av_drift_ms"] = drift.drift_ms
        return snap

    start = clock.now()
    next_status, own = start + 1.0, False
    ended_by = "stand-ins ended"
    try:
        while not stop.is_set():
            if not any(th.is_alive() for th in threads):
                break
            if seconds is not None and clock.now() - start >= seconds:
                ended_by = "seconds"
                break
            key = keys.poll() if keys is not None else None
            if key == "k":
                kill.trip()
            elif key in ("q", "\x1b"):
                ended_by = "key"
                break
            if kill.engaged() != own:
                own = not own
                log.write("kill_switch", engaged=own)
            if clock.now() >= next_status:
                next_status += 1.0
                snap = snapshot()
                log.write("status", **snap)
                if status is not None:
                    status(status_line(snap))
            clock.sleep(tick)
    except KeyboardInterrupt:
        ended_by = "ctrl+c"
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=5.0)
        if keys is not None:
            keys.close()
    if errors:
        ended_by = "error"
    if "video" in results:
        latest["video"] = results["video"]
    report = {**snapshot(), "ended_by": ended_by, "seconds": round(clock.now() - start, 2)}
    report["still_running"] = [th.name for th in threads if th.is_alive()]
    log.write("stop", **report)
    if errors:
        raise errors[0]
    return report
