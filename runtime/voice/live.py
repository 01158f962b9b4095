"""`python -m runtime voice-live --bundle DIR`: microphone -> the persona's voice -> speakers, live.

`LiveVoice` is the device-independent core: device-rate blocks in, device-rate blocks out. It
resamples the input to 16 kHz and the model's output to the device rate with streaming resamplers
(soxr keeps its filter state across blocks, so block edges do not click). The streaming converter
runs in between. A streaming resampler delays its output and hands it out in uneven chunks (44.1 ->
16 kHz, 0.25 s blocks: 3777, 3779, 4319, 3779, ... samples; up to ~50 ms behind the even share at
some rates). So the slack adapts. Whenever a side has less than one block, it is padded at the
front with what is missing plus 20 ms. That happens on the first call, and on the first few
seconds' worst chunks, as a short gap counted in `underruns`. After that, every call yields exactly
one block and no whole block of latency is ever added.

`run` drives it from a full-duplex sounddevice stream (PortAudio; the Windows wheel bundles it).
End-to-end latency = the converter's algorithmic latency + the slack + compute per block + device
buffers.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from runtime.voice.convert import FRAME16, SR16, StreamingConverter, VoiceModelError

MARGIN16 = 2 * FRAME16  # 20 ms of slack for the resamplers' uneven chunks


class StreamResampler:
    """Chunk-by-chunk resampling that is continuous across chunks (identity when the rates match)."""

    def __init__(self, sr_in: int, sr_out: int):
        self.stream = None
        if sr_in != sr_out:
            try:
                import soxr
            except ImportError:
                raise VoiceModelError("live voice needs soxr: pip install soxr (or .[voice])") from None
            self.stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return x if self.stream is None else self.stream.resample_chunk(x)


class LiveVoice:
    """One call per device block: `step(mic block) -> speaker block` of the same length."""

    def __init__(self, converter: StreamingConverter, device_sr: int):
        self.sc, self.device_sr = converter, device_sr
        self.device_block = round(converter.block16 * device_sr / SR16)
        self.down = StreamResampler(device_sr, SR16)
        self.up = StreamResampler(converter.vc.sr, device_sr)
        self.pending16 = np.zeros(0, np.float32)  # 16 kHz input not yet converted
        self.pending_out = np.zeros(0, np.float32)  # device-rate output not yet played
        self.margin_out = round(MARGIN16 * device_sr / SR16)
        self.primed = False
        self.underruns = 0

    def step(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32).reshape(-1)
        if len(block) != self.device_block:
            raise ValueError(f"blocks must be {self.device_block} samples at {self.device_sr} Hz")
        self.pending16 = np.concatenate([self.pending16, self.down(block)])
        if len(self.pending16) < self.sc.block16:  # start-up delay or a short chunk: grow the slack
            self.underruns += self.primed
            self.pending16 = pad_front(self.pending16, self.sc.block16 + MARGIN16)
        while len(self.pending16) >= self.sc.block16:
            y = self.sc.process(self.pending16[: self.sc.block16])
            self.pending16 = self.pending16[self.sc.block16 :]
            self.pending_out = np.concatenate([self.pending_out, self.up(y)])
        if len(self.pending_out) < self.device_block:
            self.underruns += self.primed
            self.pending_out = pad_front(self.pending_out, self.device_block + self.margin_out)
        self.primed = True
        out, self.pending_out = (
            self.pending_out[: self.device_block],
            self.pending_out[self.device_block :],
        )
        return out

    @property
    def latency_s(self) -> float:
        """The converter's algorithmic latency plus the slack now buffered on both sides."""
        return self.sc.latency_s + self.slack_s

    @property
    def slack_s(self) -> float:
        return len(self.pending16) / SR16 + len(self.pending_out) / self.device_sr


def pad_front(x: np.ndarray, n: int) -> np.ndarray:
    return np.pad(x, (max(0, n - len(x)), 0))


def run(
    converter: StreamingConverter,
    samplerate: int = 48000,
    input_device=None,
    output_device=None,
    seconds: float | None = None,
    gate_db: float | None = None,
) -> dict:
    """Convert the microphone to the speakers until Ctrl+C (or `seconds`); returns the loop's report.
    The devices (name, index or None for the system's) are opened as one duplex stream in the
    device format; the loop (runtime.voice.loop) reopens a device that disappears."""
    import threading

    from runtime.kill import KillSwitch
    from runtime.voice import devices
    from runtime.voice.loop import NoiseGate, VoiceLink, VoiceLoop

    try:
        sd = devices.load_sounddevice()
        open_duplex, mic, out = devices.duplex_opener(sd, input_device, output_device)
        live = LiveVoice(converter, samplerate)
        gate = NoiseGate(gate_db, gate_db - 5.0) if gate_db is not None else None
        loop = VoiceLoop(VoiceLink(live, gate, KillSwitch()), open_duplex)
    except devices.AudioDeviceError as e:
        raise VoiceModelError(f"{e} (`python -m runtime call --list-devices` lists the devices)") from None
    lat = loop.latency
    print(
        f"voice-live: {mic.label()} -> {out.label()}; {converter.latency_s * 1000:.0f} ms algorithmic "
        "latency "
        f"+ compute + {lat[0] * 1000:.0f}/{lat[1] * 1000:.0f} ms device in/out; Ctrl+C stops",
        file=sys.stderr,
    )
    stop = threading.Event()
    worker = threading.Thread(target=loop.run, args=(stop,), name="voice-live", daemon=True)
    worker.start()
    t_end = None if seconds is None else time.monotonic() + seconds
    try:
        while worker.is_alive() and (t_end is None or time.monotonic() < t_end):
            worker.join(timeout=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        worker.join(timeout=5.0)
    return loop.report()
