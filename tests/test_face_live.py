"""The live face path: tracking, smoothing, the per-frame engine, and the threaded live loop with its
devices faked (camera, virtual camera)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from runtime.face.detect import YuNet
from runtime.face.engine import KillSwitch, LiveFace
from runtime.face.faceset import FaceSet
from runtime.face.geometry import fit_similarity, template, warp_face
from runtime.face.live import LatestQueue, VirtualCameraSink, run_live
from runtime.face.settings import LiveSettings
from runtime.face.swappers import build_swapper
from runtime.face.tracking import FaceTracker, OneEuroFilter, eye_distance
from tests import face_scenes as fs
from tests.signing_key import TEST_KEY

OTHER_PERSON = 0.36  # conf/face_curate: identity cosine below this is another person


@pytest.fixture(scope="module")
def faceset(tmp_path_factory):
    return FaceSet.load(
        fs.write_faceset(tmp_path_factory.mktemp("face"), size=256, nose_shifts=(0.0, 16.0, -16.0))
    )


def engine_for(faceset, **changes) -> LiveFace:
    settings = LiveSettings().with_changes(**changes)
    return LiveFace(YuNet(faceset.detector), build_swapper("classic", faceset), settings)


def jitter(points: np.ndarray) -> float:
    """RMS second difference of a point track (frames x 5 x 2): shake, not motion."""
    return float(np.sqrt((np.diff(points, 2, axis=0) ** 2).sum(-1).mean()))


# ----------------------------------------------------------------------------- smoothing


def test_one_euro_filter_cuts_jitter_at_rest_at_least_threefold():
    rng = np.random.default_rng(0)
    truth = np.tile([[100.0, 100], [160, 100], [130, 130], [110, 160], [150, 160]], (300, 1, 1))
    noisy = truth + rng.normal(0, 1.5, truth.shape)
    s = LiveSettings()
    f = OneEuroFilter(s.smooth_min_cutoff, s.smooth_beta, s.smooth_d_cutoff)
    smooth = np.array([f(p, i / 30, 60.0) for i, p in enumerate(noisy)])
    assert jitter(smooth[30:]) * 3 <= jitter(noisy[30:])


def test_one_euro_filter_follows_fast_motion_with_little_lag():
    s = LiveSettings()
    f = OneEuroFilter(s.smooth_min_cutoff, s.smooth_beta, s.smooth_d_cutoff)
    base = np.array([[100.0, 100], [160, 100], [130, 130], [110, 160], [150, 160]])
    lag = []
    for i in range(60):  # 0.3 eye distances per frame: a quick head movement
        p = base + np.array([18.0 * i, 0])
        lag.append(np.abs(f(p, i / 30, 60.0) - p)[:, 0].mean() / 60.0)
    assert max(lag[15:]) < 0.5  # within half an eye distance while moving at 9 eye distances / s


# ----------------------------------------------------------------------------- tracking


def test_tracker_follows_a_moving_face_between_detections(faceset):
    settings = LiveSettings(detect_every=5)
    detector = YuNet(faceset.detector)
    tracker = FaceTracker(detector, settings)
    face = fs.caller_face()
    errors = []
    for i in range(30):
        frame = fs.scene(face, centre=(500 + 6 * i, 360))
        track = tracker.update(frame, i / 30)
        assert track is not None
        truth = max(detector.detect(frame), key=lambda d: d.area).points  # full-resolution detection
        errors.append(np.linalg.norm(track.points - truth, axis=1).mean() / eye_distance(truth))
    assert tracker.detections <= 8  # 30 frames, one detection in five
    assert np.mean(errors) < 0.1


def test_tracker_keeps_the_face_it_follows_when_a_larger_one_appears(faceset):
    tracker = FaceTracker(YuNet(faceset.detector), LiveSettings(detect_every=1))
    caller = fs.caller_face(220)
    for i in range(5):
        tracker.update(fs.scene(caller, centre=(300, 360)), i / 30)
    big = fs.caller_face(360)
    frame = fs.scene(caller, centre=(300, 360))
    frame[180:540, 800:1160] = big  # someone larger walks in behind
    track = tracker.update(frame, 5 / 30)
    assert track.points[:, 0].mean() < 500  # still the caller on the left


# ----------------------------------------------------------------------------- the engine


def persona_similarity(frame: np.ndarray, faceset: FaceSet, embedder) -> float:
    pts = fs.five_points(frame)
    return float(fs.identity_of(frame, pts, embedder) @ faceset.identity("sface"))


def test_the_classic_swap_turns_another_person_into_the_persona(faceset):
    embedder = fs.sface()
    frame = fs.scene(fs.caller_face(), centre=(640, 360))
    before = persona_similarity(frame, faceset, embedder)
    engine = engine_for(faceset, disclosure=False)
    for i in range(8):  # fade in
        out = engine.process(frame, i / 30)
    after = persona_similarity(out, faceset, embedder)
    assert before < OTHER_PERSON < after
    assert engine.stats.swapped == 8 and not engine.stats.fallback_frames


def test_frames_without_a_face_come_out_unchanged(faceset):
    engine = engine_for(faceset, disclosure=False)
    empty = fs.scene(None)
    black = np.zeros_like(empty)
    for i, frame in enumerate([empty, black, empty]):
        assert np.array_equal(engine.process(frame, i / 30), frame)
    assert engine.stats.fallback_frames["no_face"] == 3


def test_the_disclosure_mark_is_small_and_on_by_default(faceset):
    engine = engine_for(faceset)
    frame = fs.scene(None)
    out = engine.process(frame, 0.0)
    changed = np.any(out != frame, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any() and changed.mean() < 0.01
    assert ys.min() > frame.shape[0] * 0.8 and xs.min() > frame.shape[1] * 0.8  # bottom-right corner


def test_a_4k_frame_is_processed_at_1080p(faceset):
    engine = engine_for(faceset)
    out = engine.process(np.zeros((2160, 3840, 3), np.uint8), 0.0)
    assert out.shape == (1080, 1920, 3)


def test_the_kill_switch_hands_back_the_callers_own_frame_on_the_next_frame(faceset, tmp_path):
    stop = tmp_path / "STOP"
    settings = LiveSettings()
    engine = LiveFace(
        YuNet(faceset.detector), build_swapper("classic", faceset), settings, kill=KillSwitch(stop)
    )
    frame = fs.scene(fs.caller_face())
    for i in range(6):
        swapped = engine.process(frame, i / 30)
    assert not np.array_equal(swapped, frame)
    stop.touch()
    assert np.array_equal(engine.process(frame, 6 / 30), frame)  # no swap, no mark: the camera as it is
    stop.unlink()
    engine.process(frame, 7 / 30)
    assert engine.stats.killed == 1 and engine.alpha < 1.0  # it fades back in, not in one jump


def test_covering_the_face_fades_to_the_callers_own_face_and_back(faceset):
    engine = engine_for(faceset, disclosure=False, fade_frames=3)
    face = fs.caller_face()
    frame = fs.scene(face)
    alphas = []
    for i in range(6):
        engine.process(frame, i / 30)
        alphas.append(engine.alpha)
    covered = frame.copy()
    covered[330:520, 520:760] = (40, 160, 40)  # a green object over nose and mouth
    for i in range(6, 12):
        engine.process(covered, i / 30)
        alphas.append(engine.alpha)
    for i in range(12, 22):  # uncovered: back once the smoothed points have settled on the face again
        engine.process(frame, i / 30)
        alphas.append(engine.alpha)
    assert alphas[5] == 1.0 and alphas[11] == 0.0 and alphas[-1] == 1.0
    assert np.abs(np.diff(alphas)).max() <= 1 / 3 + 1e-9  # no jumps
    assert engine.stats.fallback_events["occluded"] == 1


def test_a_failing_swap_model_falls_back_without_ending_the_call(faceset):
    class Broken:
        name, template, size = "broken", "arcface", 128

        def swap(self, face, points):
            raise RuntimeError("CUDA error: device lost")

    engine = LiveFace(YuNet(faceset.detector), Broken(), LiveSettings(disclosure=False))
    frame = fs.scene(fs.caller_face())
    outs = [engine.process(frame, i / 30) for i in range(4)]
    assert all(np.array_equal(o, frame) for o in outs)
    assert engine.stats.fallback_frames["swap_error"] >= 1


# ----------------------------------------------------------------------------- the live loop


class FakeCamera:
    """Delivers `frames` frames at `fps`, then (if `stall`) stops delivering without ending."""

    ended = False

    def __init__(self, frame, frames: int, fps: float, stall: bool = True):
        self.frame, self.left, self.period, self.stall = frame, frames, 1.0 / fps, stall
        self.fps = fps

    def read(self):
        time.sleep(self.period)
        if self.left <= 0:
            if not self.stall:
                self.ended = True
            return None
        self.left -= 1
        return self.frame

    def close(self):
        pass


class ListSink:
    def __init__(self):
        self.frames, self.closed = [], False

    def write(self, frame):
        self.frames.append(frame)

    def close(self):
        self.closed = True


def test_the_output_keeps_its_frame_rate_when_the_camera_stops_delivering(faceset):
    engine = engine_for(faceset, detect_every=5)
    camera = FakeCamera(fs.scene(fs.caller_face()), frames=10, fps=30)
    sink = ListSink()
    report = run_live(camera, engine, sink, fps=20, seconds=1.5)
    assert report["frames_in"] == 10 and report["camera_gaps"] > 10
    assert 20 <= report["frames_out"] <= 31  # one frame per tick at 20 fps, the stall included
    assert report["repeated"] >= report["frames_out"] - 10
    assert sink.closed


def test_a_file_source_that_ends_ends_the_run(faceset):
    engine = engine_for(faceset)
    sink = ListSink()
    report = run_live(FakeCamera(fs.scene(None), frames=5, fps=100, stall=False), engine, sink, fps=100)
    assert report["frames_in"] == 5 and len(sink.frames) >= 1 and report["seconds"] < 5


def test_the_latest_queue_drops_the_oldest_frame():
    q = LatestQueue(2)
    for i in range(5):
        q.put(i)
    assert (q.get(0), q.get(0), q.dropped) == (3, 4, 3)


def test_frames_reach_a_registered_virtual_camera_backend(faceset):
    import pyvirtualcam

    received = []

    class FakeBackend:
        def __init__(self, width, height, fps, fourcc, device, **kw):
            self.size = (width, height)

        def close(self):
            received.append("closed")

        def send(self, frame):
            received.append(frame.size)

        def device(self):
            return "fake-cam"

        def native_fourcc(self):
            return None

    pyvirtualcam.register_backend("still-test", FakeBackend)
    sink = VirtualCameraSink(30, backend="still-test")
    frame = fs.scene(None)
    for _ in range(3):
        sink.write(frame)
    sink.close()
    assert received == [frame.size] * 3 + ["closed"]


def test_stop_event_ends_a_live_run_promptly(faceset):
    engine = engine_for(faceset)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    run_live(FakeCamera(fs.scene(None), frames=10_000, fps=30), engine, ListSink(), fps=30, stop=stop)
    assert time.monotonic() - t0 < 2.0


def test_aligned_crop_of_the_swapped_frame_is_the_persona_pose_matched(faceset):
    """The classic swapper picks the persona face whose pose is nearest the caller's."""
    sw = build_swapper("classic", faceset)
    frame = fs.scene(fs.caller_face())
    pts = fs.five_points(frame)
    m = fit_similarity(pts, template(sw.template, sw.size))
    face, mask = sw.swap(warp_face(frame, m, sw.size), pts @ m[:, :2].T + m[:, 2])
    assert face.shape == (sw.size, sw.size, 3) and mask.shape == (sw.size, sw.size)
    assert 0.2 < mask.mean() < 0.9


# ----------------------------------------------------------------------------- the command


def test_face_live_converts_a_video_file_from_a_verified_bundle(tmp_path):
    import json

    import cv2

    from runtime.__main__ import main
    from runtime.bundle import write_manifest

    bundle = tmp_path / "bundle"
    fs.write_faceset(bundle / "face", size=256, nose_shifts=(0.0, 16.0, -16.0))
    write_manifest(bundle, {"components": {"face": {"path": "face"}}}, TEST_KEY)
    camera = tmp_path / "call.avi"
    writer = cv2.VideoWriter(str(camera), cv2.VideoWriter_fourcc(*"MJPG"), 25, (1280, 720))
    face = fs.caller_face()
    for i in range(12):
        writer.write(fs.scene(face if i < 9 else None, centre=(600 + 4 * i, 360)))
    writer.release()
    out = tmp_path / "out.mp4"
    assert main(["face-live", "--bundle", str(bundle), "--camera", str(camera), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["frames_in"] == report["frames_out"] == 12 == int(cv2.VideoCapture(str(out)).get(7))
    assert report["engine"]["swapped"] >= 6 and report["engine"]["fallback_frames"] == {"no_face": 3}
    (bundle / "face" / "face.json").write_text("{}", encoding="utf-8")  # tampered: refused before loading
    assert main(["face-live", "--bundle", str(bundle), "--camera", str(camera), "--out", str(out)]) == 2


class NumberedCamera:
    """Frames at `fps` on `clock`, each carrying its number in its first pixel."""

    ended = False

    def __init__(self, clock, fps: float, frames: int):
        self.clock, self.period, self.left, self.n, self.t0 = clock, 1.0 / fps, frames, 0, None

    def read(self):
        self.t0 = self.clock.now() if self.t0 is None else self.t0
        self.clock.sleep(self.t0 + self.n * self.period - self.clock.now())
        if self.n >= self.left:
            self.ended = True
            return None
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[0, 0, 0] = self.n
        self.n += 1
        return frame

    def close(self):
        pass


class TimedSink(ListSink):
    def __init__(self, clock):
        super().__init__()
        self.clock, self.times = clock, []

    def write(self, frame):
        self.frames.append(int(frame[0, 0, 0]))
        self.times.append(self.clock.now())


def test_a_delayed_video_goes_out_that_long_after_capture_and_the_kill_switch_skips_the_wait(faceset):
    """Call mode holds the video back by the voice's latency (lips with words); the caller's own
    camera after the kill switch must not wait."""
    from tests.call_fakes import FastClock

    clock = FastClock(4)
    kill = KillSwitch()
    engine = engine_for(faceset)
    engine.kill = kill
    sink = TimedSink(clock)
    camera = NumberedCamera(clock, fps=25, frames=60)
    t0 = clock.now()
    threading.Timer(1.6 / 4, kill.trip).start()  # at 1.6 s of clock time
    run_live(camera, engine, sink, fps=25, clock=clock, delay=0.5)
    out = list(zip(sink.times, sink.frames, strict=True))
    waited = [t - t0 - n / 25 for t, n in out if t - t0 < 1.5]
    assert waited and min(waited) >= 0.45 and max(waited) < 0.5 + 0.2  # ~delay behind its capture
    after = [t - t0 - n / 25 for t, n in out if t - t0 > 1.7]
    assert after and max(after) < 0.2  # killed: no delay, the newest frame at once
