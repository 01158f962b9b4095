"""Simulated devices for the live voice and call tests: a faster clock, a sounddevice module with
scripted faults, a paced camera, a counting sink, a converter that costs nothing.

    clock = FastClock(100)                      # 100 simulated seconds per wall second
    sd = FakeSoundDevice(clock)                 # "Headset" + "CABLE Input" under MME and WASAPI
    sd.script.lose_at_read = 40                 # the device vanishes at the 40th read ...
    sd.script.missing_opens = 2                 # ... stays gone for two reopen attempts ...
    sd.script.rates_after_loss = (44100,)       # ... and comes back at 44.1 kHz only
"""

from __future__ import annotations

import threading
import time
import types
from collections import deque
from dataclasses import dataclass, field

import numpy as np


class FastClock:
    """Monotonic time sped up `speed` times: an hour of a call runs in 3600/speed seconds."""

    def __init__(self, speed: float):
        self.speed, self.t0 = speed, time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


def tone(seconds: float, sr: int, f0: float = 180.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


# ----------------------------------------------------------------------------- sounddevice


class PortAudioError(Exception):
    pass


@dataclass
class Script:
    lose_at_read: int | None = None  # the stream's n-th read (1-based, over all streams) raises
    missing_opens: int = 0  # after a loss, the device is missing for this many opens
    rates_after_loss: tuple[int, ...] | None = None  # the rates the device accepts once it is back
    mic_level: float = 0.3  # amplitude of the microphone's tone (0: silence)
    clock_error: float = 0.0  # the sound card's clock runs this much slow (0.01: 1% slow)


@dataclass
class FakeDevice:
    name: str
    hostapi: int
    inputs: int
    outputs: int
    rates: tuple[int, ...] = (44100, 48000)
    default_rate: int = 48000

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "hostapi": self.hostapi,
            "max_input_channels": self.inputs,
            "max_output_channels": self.outputs,
            "default_samplerate": float(self.default_rate),
        }


class FakeSoundDevice:
    """The part of the sounddevice module the runtime uses. Each device appears under MME (0) and
    WASAPI (1), as on Windows."""

    PortAudioError = PortAudioError

    def __init__(self, clock=None, extra: list[FakeDevice] | None = None):
        self.clock = clock
        self.apis = [{"name": "MME"}, {"name": "Windows WASAPI"}]
        self.devices = [
            FakeDevice("Microphone (USB Headset)", 0, 1, 0),
            FakeDevice("CABLE Input (VB-Audio Virtual Cable)", 0, 0, 2),
            FakeDevice("Headphones (USB Headset)", 0, 0, 2),
            FakeDevice("Microphone (USB Headset)", 1, 1, 0),
            FakeDevice("CABLE Input (VB-Audio Virtual Cable)", 1, 0, 2),
            FakeDevice("Headphones (USB Headset)", 1, 0, 2),
            *(extra or []),
        ]
        self.default = types.SimpleNamespace(device=(0, 2))
        self.script = Script()
        self.reads = 0
        self.lost = False
        self.streams: list[FakeStream] = []
        self.monitors: list[FakeOutputStream] = []
        self.lock = threading.Lock()

    # discovery -----------------------------------------------------------
    def query_hostapis(self):
        return tuple(self.apis)

    def query_devices(self):
        if self.lost and self.script.missing_opens > 0:
            self.script.missing_opens -= 1
            return [d.as_dict() for d in self.devices if "Headset" not in d.name]
        return [d.as_dict() for d in self.devices]

    def _check(self, device, samplerate, kind):
        d = self.devices[device]
        if (d.inputs if kind == "input" else d.outputs) < 1:
            raise PortAudioError(f"Invalid number of channels [PaErrorCode -9998] ({d.name})")
        if samplerate not in d.rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def check_input_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        self._check(device, samplerate, "input")

    def check_output_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        self._check(device, samplerate, "output")

    # streams -------------------------------------------------------------
    def Stream(self, **kwargs):
        stream = FakeStream(self, **kwargs)
        self.streams.append(stream)
        return stream

    def OutputStream(self, **kwargs):
        stream = FakeOutputStream(**kwargs)
        self.monitors.append(stream)
        return stream

    def lose_device(self) -> None:
        self.lost = True
        if self.script.rates_after_loss is not None:
            for d in self.devices:
                d.rates = self.script.rates_after_loss
                d.default_rate = self.script.rates_after_loss[0]


class FakeStream:
    """A duplex stream paced by the clock like hardware: read() returns the microphone's next
    block when its time has come; write() keeps the last blocks and counts them all."""

    latency = (0.01, 0.02)

    def __init__(self, sd: FakeSoundDevice, samplerate, blocksize, device, channels, dtype, latency):
        self.sd, self.samplerate, self.blocksize, self.device = sd, samplerate, blocksize, device
        self.started = self.closed = False
        self.blocks_read = 0
        self.written: deque[np.ndarray] = deque(maxlen=64)  # bounded: a simulated hour fits
        self.blocks_written = 0
        self.t0 = None
        self.phase = 0

    def start(self):
        self.started = True

    def stop(self):
        pass

    def close(self):
        self.closed = True

    def read(self, n):
        sd = self.sd
        with sd.lock:
            sd.reads += 1
            lose = sd.script.lose_at_read is not None and sd.reads == sd.script.lose_at_read
        if lose:
            sd.lose_device()
            raise PortAudioError("Unanticipated host error [PaErrorCode -9999]: the device was removed")
        if sd.clock is not None:
            self.t0 = sd.clock.now() if self.t0 is None else self.t0
            due = (self.blocks_read + 1) * n / self.samplerate * (1 + sd.script.clock_error)
            sd.clock.sleep(self.t0 + due - sd.clock.now())
        t = (self.phase + np.arange(n)) / self.samplerate
        self.phase += n
        self.blocks_read += 1
        block = (sd.script.mic_level * np.sin(2 * np.pi * 180.0 * t)).astype(np.float32)
        return block[:, None], False

    def write(self, data):
        self.written.append(np.asarray(data)[:, 0].copy())
        self.blocks_written += 1
        return False


class FakeOutputStream:
    def __init__(self, samplerate, blocksize, device, channels, dtype, callback):
        self.samplerate, self.blocksize, self.device, self.callback = samplerate, blocksize, device, callback
        self.closed = False

    def start(self):
        pass

    def stop(self):
        pass

    def close(self):
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """What the sound card would play next (runs the callback like PortAudio does)."""
        out = np.full((frames, 1), np.nan, np.float32)
        self.callback(out, frames, None, None)
        return out[:, 0]


# ----------------------------------------------------------------------------- converter, video


class IdentityConverter:
    """StreamingConverter's interface at no cost: the 16 kHz block comes back as it went in."""

    def __init__(self, block16: int = 4000, latency_s: float = 0.31, cost_s: float = 0.0):
        from runtime.timings import Timings

        self.block16, self.latency_s, self.cost_s = block16, latency_s, cost_s
        self.vc = types.SimpleNamespace(sr=16000)
        self.compute = Timings()
        self.blocks = self.skipped = 0

    def process(self, block16: np.ndarray) -> np.ndarray:
        if self.cost_s:
            time.sleep(self.cost_s)
        self.blocks += 1
        return np.asarray(block16, np.float32)


class PacedCamera:
    """A camera delivering a small frame at `fps` on the clock; `unplugged` (start, end) seconds of
    clock time during which reads fail (None), as a camera that was pulled out."""

    ended = False

    def __init__(self, clock, fps: float = 25.0, size=(64, 96), unplugged: tuple[float, float] | None = None):
        self.clock, self.period, self.unplugged = clock, 1.0 / fps, unplugged
        self.frame = np.full((*size, 3), 90, np.uint8)
        self.t0, self.frames, self.closed = None, 0, False

    def read(self):
        self.t0 = self.clock.now() if self.t0 is None else self.t0
        self.clock.sleep(self.t0 + (self.frames + 1) * self.period - self.clock.now())
        self.frames += 1
        t = self.clock.now() - self.t0
        if self.unplugged and self.unplugged[0] <= t < self.unplugged[1]:
            return None
        return self.frame

    def close(self):
        self.closed = True


@dataclass
class CountingSink:
    """A virtual camera that remembers only counts (and when a kill-switched frame first came)."""

    frames: int = 0
    closed: bool = False
    times: list = field(default_factory=list)

    def write(self, frame) -> None:
        self.frames += 1

    def close(self) -> None:
        self.closed = True


class NoFaces:
    """A detector that never finds anyone (the engine passes frames through, marked)."""

    def detect(self, frame):
        return []


def passthrough_engine(kill=None, fps: float = 25.0):
    """The real LiveFace with no face to find: every frame goes through detection, the checks and
    the disclosure mark."""
    from runtime.face.engine import LiveFace
    from runtime.face.settings import LiveSettings

    swapper = types.SimpleNamespace(template="arcface", size=112, swap=None)
    return LiveFace(NoFaces(), swapper, LiveSettings(fps=fps, process_height=720), kill=kill)


class Keys:
    """Hotkeys pressed at given clock times: {seconds: key}; a key "^C" raises KeyboardInterrupt."""

    def __init__(self, clock, presses: dict[float, str]):
        self.clock, self.presses, self.closed = clock, sorted(presses.items()), False

    def poll(self):
        if self.presses and self.clock.now() >= self.presses[0][0]:
            key = self.presses.pop(0)[1]
            if key == "^C":
                raise KeyboardInterrupt
            return key
        return None

    def close(self):
        self.closed = True
