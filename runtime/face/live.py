"""`python -m runtime face-live`: camera -> the persona's face -> virtual camera (or a file, or a preview).

Sources and sinks are small interfaces so tests drive the live path with fakes, and the Windows-only
parts (DirectShow / Media Foundation cameras, OBS or Unity Capture virtual cameras) stay behind them:

    source: CameraSource(0, (1920, 1080)) | VideoFileSource("call.mp4")    .read() -> frame | None
    sink:   VirtualCameraSink(30) | VideoFileSink("out.mp4", 30) | PreviewSink(kill) | Tee(...)

`run_live` runs three threads joined by bounded queues that drop the oldest frame: capture, the
engine (runtime.face.engine.LiveFace), and the output clock. The output keeps a constant frame rate
whatever the engine does: when no new frame is ready at a tick, the last one is sent again, so the
call app never sees the camera stall. `convert_file` is the offline twin: every frame of a video
file through the same engine, one output frame per input frame.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from runtime.atomic import write_json
from runtime.clock import SYSTEM
from runtime.face.engine import KillSwitch, LiveFace
from runtime.face.settings import LiveSettings

log = logging.getLogger("still.face")

MAX_BEHIND = 1.0  # seconds the output clock may fall behind before missed ticks are skipped
RESOLUTIONS = {"4k": (3840, 2160), "1080p": (1920, 1080), "720p": (1280, 720)}


class DeviceError(Exception):
    """A camera or virtual camera cannot be used; the message says which and what to do."""


# ----------------------------------------------------------------------------- sources


class VideoFileSource:
    """Frames of a video file; `ended` once it is exhausted."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DeviceError(f"{self.path}: video file not found")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise DeviceError(f"{self.path}: OpenCV cannot read this video (try an .mp4 or .avi)")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS)) or 30.0
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.ended = False

    def read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        if not ok:
            self.ended = True
            return None
        return frame

    def close(self) -> None:
        self.cap.release()


def camera_api() -> int:
    """OpenCV's capture back-end for this OS: DirectShow on Windows (opens 4K webcams fastest and
    honours MJPG; Media Foundation is the fallback), V4L2 on Linux, the default elsewhere."""
    if sys.platform == "win32":
        return cv2.CAP_DSHOW
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    return cv2.CAP_ANY


class CameraSource:
    """A camera by index at a requested resolution. A read that fails returns None (counted by the
    runner as a camera gap); after a second of failures the camera is reopened."""

    ended = False

    def __init__(
        self,
        index: int,
        resolution: tuple[int, int] = (1920, 1080),
        fps: float = 30.0,
        api: int | None = None,
        capture=cv2.VideoCapture,
        clock=SYSTEM,
    ):
        self.index, self.requested, self.fps = index, resolution, fps
        self.api = camera_api() if api is None else api
        self._capture, self.clock = capture, clock
        self._failures, self._last_ok = 0, clock.now()
        self.reopened = 0
        self.cap = self._open()

    def _open(self):
        cap = self._capture(self.index, self.api)
        if not cap.isOpened() and self.api == getattr(cv2, "CAP_DSHOW", -1):
            cap = self._capture(self.index, cv2.CAP_MSMF)
        if not cap.isOpened():
            raise DeviceError(
                f"camera {self.index} cannot be opened: is it plugged in, and not in use by another app "
                "(WeChat, OBS, a browser)? `--camera N` picks another; `--camera FILE` plays a video"
            )
        w, h = self.requested
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))  # 4K at 30 fps needs MJPG over USB
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != (w, h):
            log.warning("camera %d delivers %dx%d, not the requested %dx%d", self.index, *got, w, h)
        self.size = got
        return cap

    def read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        if ok and frame is not None:
            self._failures, self._last_ok = 0, self.clock.now()
            return frame
        self._failures += 1
        if self.clock.now() - self._last_ok > 1.0:  # unplugged or grabbed by another app: try again
            self._last_ok = self.clock.now()
            self.cap.release()
            try:
                self.cap = self._open()
                self.reopened += 1
            except DeviceError as e:
                log.warning("%s", e)
        return None

    def close(self) -> None:
        self.cap.release()


class PacedSource:
    """A source's frames handed out at `fps` on `clock`, as a camera would deliver them (a video
    file standing in for the camera in a live run)."""

    def __init__(self, source, fps: float, clock=SYSTEM):
        self.source, self.period, self.clock = source, 1.0 / fps, clock
        self.fps = fps
        self.start: float | None = None
        self.frames = 0

    @property
    def ended(self) -> bool:
        return self.source.ended

    def read(self) -> np.ndarray | None:
        if self.start is None:
            self.start = self.clock.now()
        self.clock.sleep(self.start + self.frames * self.period - self.clock.now())
        frame = self.source.read()
        self.frames += frame is not None
        return frame

    def close(self) -> None:
        self.source.close()


def open_source(camera: str, resolution: str = "1080p", fps: float = 30.0, paced: bool = False):
    """`camera` is an index ("0") or a video file (`paced`: delivered at its own frame rate, as
    a camera would)."""
    if camera.isdigit():
        return CameraSource(int(camera), RESOLUTIONS[resolution], fps)
    source = VideoFileSource(camera)
    return PacedSource(source, source.fps) if paced else source


# ----------------------------------------------------------------------------- sinks


class VideoFileSink:
    """Frames into a video file (mp4v), written to a temporary name and renamed when closed, so a
    crash never leaves half a video under the real name."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.writer = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self.writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self.writer.isOpened():
                raise DeviceError(f"{self.path}: OpenCV cannot write this video format (use .mp4 or .avi)")
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            os.replace(self.tmp, self.path)


class VirtualCameraSink:
    """Frames to a virtual camera through pyvirtualcam: OBS Virtual Camera or Unity Capture on
    Windows, v4l2loopback on Linux (`backend` picks one; tests register a fake)."""

    def __init__(self, fps: float, backend: str | None = None, device: str | None = None):
        try:
            import pyvirtualcam  # noqa: F401
        except ImportError:
            raise DeviceError(
                "the virtual camera needs pyvirtualcam: pip install pyvirtualcam (or .[face])"
            ) from None
        self.fps, self.backend, self.device = fps, backend, device
        self.cam = None

    def write(self, frame: np.ndarray) -> None:
        if self.cam is None:
            import pyvirtualcam

            h, w = frame.shape[:2]
            try:
                self.cam = pyvirtualcam.Camera(
                    w, h, self.fps, fmt=pyvirtualcam.PixelFormat.BGR, backend=self.backend, device=self.device
                )
            except RuntimeError as e:
                raise DeviceError(
                    f"no virtual camera ({e}). Windows: install OBS Studio and start its Virtual Camera "
                    "once, or install Unity Capture; Linux: modprobe v4l2loopback. Or --out FILE"
                ) from None
            log.info("virtual camera: %s %dx%d @ %.0f fps", self.cam.device, w, h, self.fps)
        self.cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self.cam is not None:
            self.cam.close()


class PreviewSink:
    """A window showing the output. Keys: `k` trips the kill switch (the caller's own camera),
    `q` or Esc ends the run."""

    def __init__(self, kill: KillSwitch, stop: threading.Event, title: str = "Still - face preview"):
        self.kill, self.stop, self.title = kill, stop, title

    def write(self, frame: np.ndarray) -> None:
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key == ord("k"):
            self.kill.trip()
        elif key in (ord("q"), 27):
            self.stop.set()

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class Tee:
    def __init__(self, *sinks):
        self.sinks = sinks

    def write(self, frame: np.ndarray) -> None:
        for s in self.sinks:
            s.write(frame)

    def close(self) -> None:
        for s in self.sinks:
            s.close()


# ----------------------------------------------------------------------------- the live loop


class LatestQueue:
    """A bounded queue that drops its oldest item when full (live video: late frames are worthless)."""

    def __init__(self, maxlen: int = 2):
        self.items: deque = deque(maxlen=maxlen)
        self.cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item) -> None:
        with self.cond:
            self.dropped += len(self.items) == self.items.maxlen
            self.items.append(item)
            self.cond.notify()

    def get(self, timeout: float) -> object | None:
        with self.cond:
            if not self.items and not self.closed:
                self.cond.wait(timeout)
            return self.items.popleft() if self.items else None

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def run_live(
    source,
    engine: LiveFace,
    sink,
    fps: float,
    seconds: float | None = None,
    stop: threading.Event | None = None,
    status=None,
    clock=SYSTEM,
    delay: float = 0.0,
) -> dict:
    """Camera -> engine -> sink until `stop`, `seconds`, or the source ends; the sink gets exactly
    one frame per 1/fps tick of `clock` (repeating the last when none is new). With `delay`, a frame
    goes out `delay` seconds after it was captured (call mode: the video waits for the converted
    voice, so lips and voice arrive together); with the kill switch engaged there is no delay, so
    the caller's own camera comes back at once. `status(report)` is called about once a second.
    Returns the run's report."""
    stop = stop or threading.Event()
    frames_q, done_q = LatestQueue(2), LatestQueue(2)
    held: deque = deque(maxlen=max(4, int((delay + 0.5) * 120)))  # (capture time, frame) awaiting `delay`
    counts = {"frames_in": 0, "camera_gaps": 0, "frames_out": 0, "repeated": 0, "skipped_ticks": 0}
    errors: list[BaseException] = []
    t0 = clock.now()

    def capture():
        try:
            while not stop.is_set() and not source.ended:
                frame = source.read()
                if frame is None:
                    counts["camera_gaps"] += not source.ended
                    clock.sleep(0.005)
                    continue
                counts["frames_in"] += 1
                frames_q.put((frame, clock.now() - t0))
        except BaseException as e:  # a dead camera thread must end the run, not hang it
            errors.append(e)
        finally:
            frames_q.close()

    def process():
        try:
            while not stop.is_set():
                item = frames_q.get(timeout=0.1)
                if item is None:
                    if frames_q.closed:
                        break
                    continue
                done_q.put((item[1], engine.process(*item)))
        except BaseException as e:
            errors.append(e)
        finally:
            done_q.close()

    threads = [threading.Thread(target=f, name=f"face-{f.__name__}", daemon=True) for f in (capture, process)]
    for th in threads:
        th.start()
    start = clock.now()
    period, last, next_tick, next_status = 1.0 / fps, None, start, start + 1.0
    try:
        while not stop.is_set() and (seconds is None or clock.now() - start < seconds):
            while (item := done_q.get(timeout=0)) is not None:
                held.append(item)
            due = clock.now() - t0 - (0.0 if engine.kill.engaged() else delay)
            fresh = None
            while held and held[0][0] <= due:  # the newest frame whose time has come; older ones are late
                fresh = held.popleft()[1]
            last = fresh if fresh is not None else last
            if fresh is None and done_q.closed and not done_q.items and not held:
                break  # the source ended and every frame is out
            if last is not None:
                sink.write(last)
                counts["frames_out"] += 1
                counts["repeated"] += fresh is None
            if status is not None and clock.now() >= next_status:
                next_status += 1.0
                status(live_report(counts, frames_q, done_q, engine, clock.now() - start))
            next_tick += period
            behind = clock.now() - next_tick
            if behind > MAX_BEHIND:  # a stalled machine: skip the missed ticks rather than burst them
                skipped = int(behind / period)
                counts["skipped_ticks"] += skipped
                next_tick += skipped * period
            clock.sleep(next_tick - clock.now())
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=2.0)
        sink.close()
        source.close()
    if errors:
        raise errors[0]
    return live_report(counts, frames_q, done_q, engine, clock.now() - start)


def live_report(
    counts: dict, frames_q: LatestQueue, done_q: LatestQueue, engine: LiveFace, wall: float
) -> dict:
    wall = max(wall, 1e-6)
    return {
        **counts,
        "dropped": frames_q.dropped + done_q.dropped,
        "fps_in": round(counts["frames_in"] / wall, 1),
        "fps_out": round(counts["frames_out"] / wall, 1),
        "seconds": round(wall, 2),
        "engine": engine.stats.summary(),
        "detections": engine.tracker.detections,
    }


def status_text(report: dict) -> str:
    """One line of a live report for the console."""
    e = report["engine"]
    swap = (e["swap_ms"] or {}).get("mean", 0.0)
    return (
        f"video in {report['fps_in']:.0f} / out {report['fps_out']:.0f} fps, swap {swap:.0f} ms, dropped "
        f"{report['dropped']}, repeated {report['repeated']}, fallbacks {sum(e['fallback_frames'].values())}"
    )


# ----------------------------------------------------------------------------- a file, offline


def convert(source, engine: LiveFace, sink, fps: float) -> dict:
    """Every frame of `source` through `engine` into `sink` (no drops, no repeats)."""
    t0, i = time.perf_counter(), 0
    try:
        while (frame := source.read()) is not None:
            sink.write(engine.process(frame, i / fps))
            i += 1
    finally:
        sink.close()
        source.close()
    wall = time.perf_counter() - t0
    return {
        "frames_in": i,
        "frames_out": i,
        "seconds": round(wall, 2),
        "fps": round(i / max(wall, 1e-6), 1),
        "engine": engine.stats.summary(),
        "detections": engine.tracker.detections,
    }


def build_engine(
    face_dir: str | Path,
    settings: LiveSettings | None = None,
    swapper: str | None = None,
    swapper_model=None,
    recogniser=None,
    enhancer=None,
    kill: KillSwitch | None = None,
    providers=None,
    threads=None,
    changes: dict | None = None,
) -> tuple[LiveFace, dict]:
    """The engine for a face component folder (settings: the bundle's unless given, with `changes`
    applied; a None value keeps the setting), and what it runs on (for reports)."""
    from runtime.face.detect import YuNet
    from runtime.face.faceset import FaceSet
    from runtime.face.swappers import build_swapper

    faceset = FaceSet.load(face_dir)
    settings = (settings or LiveSettings.from_dict(faceset.live)).with_changes(**(changes or {}))
    name = swapper or faceset.default_swapper
    sw = build_swapper(
        name, faceset, model=swapper_model, providers=providers, threads=threads, recogniser=recogniser
    )
    enh = None
    if enhancer:
        from runtime.face.enhance import FaceEnhancer

        enh = FaceEnhancer(Path(enhancer), providers=providers, threads=threads)
    engine = LiveFace(YuNet(faceset.detector, settings.detect_score), sw, settings, enh, kill)
    session = getattr(sw, "session", None)
    info = {
        "swapper": name,
        "provider": session.get_providers()[0] if session is not None else "cpu (numpy/OpenCV)",
        "enhancer": Path(enhancer).name if enhancer else None,
        "settings": settings.to_dict(),
    }
    return engine, info


def convert_file(
    camera: str | Path,
    out: str | Path,
    face_dir: str | Path,
    settings: LiveSettings | None = None,
    swapper: str | None = None,
    disclosure: bool = True,
    **engine_args,
) -> dict:
    """A video file converted frame by frame to `out`; the report is also written beside it
    (`out` with .json)."""
    engine, info = build_engine(
        face_dir, settings, swapper, changes={"disclosure": disclosure}, **engine_args
    )
    source = VideoFileSource(camera)
    report = {
        "camera": Path(camera).name,
        **info,
        **convert(source, engine, VideoFileSink(out, source.fps), source.fps),
    }
    write_json(Path(out).with_suffix(".json"), report)
    return report
