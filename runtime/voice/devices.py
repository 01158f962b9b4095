"""Audio devices for the live voice (voice-live, call): the microphone in, the output (a virtual
microphone such as VB-CABLE's "CABLE Input", or speakers) out, one fixed format.

    devices = list_devices(sd)                               # every PortAudio device
    mic, cable = pick_pair(devices, "Headset", "CABLE Input")  # by name or index, one host API
    check_format(sd, mic, cable, 48000)                      # FormatRefused says what to change
    duplex = SoundDeviceDuplex(sd, mic, cable, 48000, 12000) # .read() -> block, .write(block)
    open_duplex, mic, cable = duplex_opener(sd, "Headset", "CABLE Input")  # all of that, reopenable

A duplex stream reads and writes on one host API with one clock, so the output never drifts from the
input (two separate streams would, by the ppm difference of two sound cards). The format is the
reference system's fix for fragile routing: 48 kHz, mono, float32 samples (16-bit on the wire is the
device's business). `FileDuplex` stands in for the devices (a recording in, a wav out), paced like
a device on a clock or as fast as it is read. `MonitorOutput` plays the persona's voice on a second
device (headphones) from a small buffer that drops or pads instead of blocking the call.

`sd` is the sounddevice module (PortAudio); tests pass a fake with the same functions.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.clock import SYSTEM

# PortAudio host APIs in the order a call prefers them when a device appears under several
# (Windows lists each device under MME, DirectSound, WASAPI and WDM-KS): WASAPI shared mode runs at
# the device's own format with low latency; MME is the most compatible, with more latency.
HOSTAPI_ORDER = (
    "Windows WASAPI",
    "MME",
    "Windows DirectSound",
    "Core Audio",
    "ALSA",
    "JACK Audio Connection Kit",
)
FORMAT_HELP = (
    "set the device to 48000 Hz (Windows: Settings > Sound > the device > Properties > Advanced > "
    "Default Format '48000 Hz'; VB-CABLE: also in its control panel), or pass --samplerate {rate}"
)


class AudioDeviceError(Exception):
    """An audio device cannot be used (missing, gone, busy); the message says which and what to do."""


class FormatRefused(AudioDeviceError):
    """The device does not accept the call's format; `device_rate` is the rate it offers."""

    def __init__(self, message: str, device_rate: int):
        super().__init__(message)
        self.device_rate = device_rate


def load_sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as e:  # OSError: the PortAudio library itself is missing
        raise AudioDeviceError(
            f"audio devices need sounddevice and PortAudio: pip install sounddevice, or .[voice] ({e})"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    default_rate: int

    def label(self) -> str:
        return f"[{self.index}] {self.name} ({self.hostapi})"

    def line(self) -> str:
        return f"{self.label()}: {self.inputs} in / {self.outputs} out, {self.default_rate} Hz"


def list_devices(sd) -> list[AudioDevice]:
    apis = [a["name"] for a in sd.query_hostapis()]
    return [
        AudioDevice(
            i,
            d["name"],
            apis[d["hostapi"]],
            int(d["max_input_channels"]),
            int(d["max_output_channels"]),
            int(d["default_samplerate"]),
        )
        for i, d in enumerate(sd.query_devices())
    ]


def _channels(d: AudioDevice, kind: str) -> int:
    return d.inputs if kind == "input" else d.outputs


def matches(devices: list[AudioDevice], spec: str | int, kind: str) -> list[AudioDevice]:
    """The devices `spec` names for `kind` ("input"/"output"): an index, or a case-insensitive part
    of the name."""
    usable = [d for d in devices if _channels(d, kind) > 0]
    if isinstance(spec, int) or str(spec).isdigit():
        found = [d for d in usable if d.index == int(spec)]
        if not found:
            raise AudioDeviceError(f"no {kind} device with index {spec}: --list-devices shows them")
        return found
    found = [d for d in usable if str(spec).lower() in d.name.lower()]
    if not found:
        names = ", ".join(sorted({d.name for d in usable})) or "none"
        raise AudioDeviceError(f"no {kind} device named like {spec!r} (there are: {names})")
    if len({d.name for d in found}) > 1:
        names = "; ".join(sorted({d.name for d in found}))
        raise AudioDeviceError(
            f"{spec!r} names several {kind} devices ({names}): give more of the name or an index"
        )
    return found


def _rank(api: str) -> int:
    return HOSTAPI_ORDER.index(api) if api in HOSTAPI_ORDER else len(HOSTAPI_ORDER)


def pick_pair(devices: list[AudioDevice], mic: str | int, out: str | int) -> tuple[AudioDevice, AudioDevice]:
    """The input and output device on one host API (a duplex stream needs that), the most preferred
    host API that has both."""
    ins, outs = matches(devices, mic, "input"), matches(devices, out, "output")
    common = sorted({d.hostapi for d in ins} & {d.hostapi for d in outs}, key=_rank)
    if not common:
        raise AudioDeviceError(
            f"{ins[0].name} and {outs[0].name} share no host API "
            f"({', '.join(sorted({d.hostapi for d in ins}))} "
            f"vs {', '.join(sorted({d.hostapi for d in outs}))}): pick them by index from --list-devices"
        )
    return (next(d for d in ins if d.hostapi == common[0]), next(d for d in outs if d.hostapi == common[0]))


def same_device(devices: list[AudioDevice], device: AudioDevice, kind: str) -> AudioDevice:
    """`device` in a fresh list (its index may have changed since)."""
    for d in devices:
        if (d.name, d.hostapi) == (device.name, device.hostapi) and _channels(d, kind) > 0:
            return d
    raise AudioDeviceError(f"{kind} device {device.name} ({device.hostapi}) is not connected")


def pick_output(devices: list[AudioDevice], spec: str | int) -> AudioDevice:
    return min(matches(devices, spec, "output"), key=lambda d: _rank(d.hostapi))


def check_format(sd, mic: AudioDevice | None, out: AudioDevice | None, samplerate: int) -> None:
    """Refuse, with what to change, a device that does not take `samplerate` mono float32."""
    for device, kind, check in (
        (mic, "input", sd.check_input_settings),
        (out, "output", sd.check_output_settings),
    ):
        if device is None:
            continue
        try:
            check(device=device.index, channels=1, dtype="float32", samplerate=samplerate)
        except Exception as e:  # PortAudioError or ValueError, depending on the host API
            raise FormatRefused(
                f"{kind} device {device.label()} refuses {samplerate} Hz mono ({e}); "
                + FORMAT_HELP.format(rate=device.default_rate),
                device.default_rate,
            ) from None


def default_device(sd, kind: str) -> int:
    index = sd.default.device[0 if kind == "input" else 1]
    if index is None or int(index) < 0:
        flag = "--mic/--input-device" if kind == "input" else "--speaker/--output-device"
        raise AudioDeviceError(
            f"this machine has no default {kind} device: pick one with {flag} (--list-devices)"
        )
    return int(index)


def duplex_opener(sd, mic: str | int | None, out: str | int | None):
    """(open(rate, block) -> SoundDeviceDuplex, mic, out): the devices by name or index (None: the
    system's default), found again by name and host API on every open (a headset plugged back into
    another port has another index) and checked for the format."""
    m, o = pick_pair(list_devices(sd), default_device(sd, "input") if mic is None else mic,
                     default_device(sd, "output") if out is None else out)  # fmt: skip

    def open_duplex(rate: int, block: int) -> SoundDeviceDuplex:
        now = list_devices(sd)
        m2, o2 = same_device(now, m, "input"), same_device(now, o, "output")
        check_format(sd, m2, o2, rate)
        return SoundDeviceDuplex(sd, m2, o2, rate, block)

    return open_duplex, m, o


class SoundDeviceDuplex:
    """One PortAudio duplex stream: `read()` -> one mono block, `write(block)`. A device that
    fails mid-call raises AudioDeviceError (the call reopens it)."""

    ended = False

    def __init__(self, sd, mic: AudioDevice | None, out: AudioDevice | None, samplerate: int, blocksize: int):
        self.sd, self.samplerate, self.blocksize = sd, samplerate, blocksize
        self.overflows = self.underflows = 0
        device = (None if mic is None else mic.index, None if out is None else out.index)
        try:
            self.stream = sd.Stream(samplerate=samplerate, blocksize=blocksize, device=device,
                                    channels=1, dtype="float32", latency="low")  # fmt: skip
            self.stream.start()
        except Exception as e:
            raise AudioDeviceError(
                f"cannot open the audio devices {device} at {samplerate} Hz ({e})"
            ) from None
        self.latency = tuple(float(x) for x in self.stream.latency)

    def read(self) -> np.ndarray:
        try:
            data, overflowed = self.stream.read(self.blocksize)
        except Exception as e:
            raise AudioDeviceError(f"the microphone stopped ({e})") from None
        self.overflows += bool(overflowed)
        return np.asarray(data, np.float32)[:, 0]

    def write(self, block: np.ndarray) -> None:
        try:
            underflowed = self.stream.write(np.asarray(block, np.float32).reshape(-1, 1))
        except Exception as e:
            raise AudioDeviceError(f"the audio output stopped ({e})") from None
        self.underflows += bool(underflowed)

    def close(self) -> None:
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:  # a device that is already gone cannot be closed twice
            pass


def read_recording(path: str | Path, samplerate: int, what: str = "recording") -> np.ndarray:
    """A wav/flac file as mono float32 at `samplerate` (resampled when it has another rate)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioDeviceError(f"{path}: {what} not found")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioDeviceError(f"{path}: cannot read this {what} ({e}); use a wav or flac file") from None
    x = x.mean(1)
    if sr == samplerate:
        return x
    import soxr

    return soxr.resample(x, sr, samplerate, quality="HQ").astype(np.float32)


def split_blocks(x: np.ndarray, n: int) -> list[np.ndarray]:
    """`x` in blocks of `n` samples, the last one padded with silence (at least one block)."""
    x = np.pad(np.asarray(x, np.float32), (0, -len(x) % n))
    return np.array_split(x, max(1, len(x) // n))


class FileDuplex:
    """A recording as the microphone and a wav file as the output device, in the call's format.
    On `clock`, blocks are handed out at the device's pace; without one, as fast as they are read.
    The output is written (16-bit, atomically) when closed and has the recording's length."""

    def __init__(self, mic: str | Path, out: str | Path, samplerate: int, blocksize: int, clock=SYSTEM,
                 paced: bool = True):  # fmt: skip
        x = read_recording(mic, samplerate, "recording (--mic-file)")
        self.samples = len(x)
        self.blocks = split_blocks(x, blocksize)
        self.out, self.samplerate, self.blocksize = Path(out), samplerate, blocksize
        self.clock, self.paced = clock, paced
        self.latency = (0.0, 0.0)
        self.written: list[np.ndarray] = []
        self.i, self.start = 0, None
        self.ended = False

    def read(self) -> np.ndarray | None:
        if self.i >= len(self.blocks):
            self.ended = True
            return None
        if self.paced:
            self.start = self.clock.now() if self.start is None else self.start
            self.clock.sleep(self.start + (self.i + 1) * self.blocksize / self.samplerate - self.clock.now())
        self.i += 1
        return self.blocks[self.i - 1]

    def write(self, block: np.ndarray) -> None:
        self.written.append(np.asarray(block, np.float32))

    def close(self) -> None:
        import soundfile as sf

        y = np.concatenate(self.written) if self.written else np.zeros(0, np.float32)
        y = np.pad(y, (0, max(0, self.samples - len(y))))[: self.samples]
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.stem}.partial{self.out.suffix}")
        sf.write(str(tmp), np.clip(y, -1, 1), self.samplerate, subtype="PCM_16", format="WAV")
        os.replace(tmp, self.out)


class MonitorOutput:
    """The call's output on a second device (headphones), fed without ever blocking the call: a
    callback stream plays from a buffer of at most `max_blocks`; a late block is silence, an early
    one pushes the oldest out."""

    def __init__(self, sd, device: AudioDevice, samplerate: int, blocksize: int, max_blocks: int = 3):
        self.buffer: deque[np.ndarray] = deque(maxlen=max_blocks)
        self.lock = threading.Lock()
        self.current, self.pos = np.zeros(0, np.float32), 0
        self.underruns = 0
        try:
            self.stream = sd.OutputStream(samplerate=samplerate, blocksize=blocksize, device=device.index,
                                          channels=1, dtype="float32", callback=self._play)  # fmt: skip
            self.stream.start()
        except Exception as e:
            raise AudioDeviceError(
                f"cannot open the monitor {device.label()} at {samplerate} Hz ({e})"
            ) from None

    def write(self, block: np.ndarray) -> None:
        with self.lock:
            self.buffer.append(np.asarray(block, np.float32))

    def _play(self, outdata, frames, _time, _status) -> None:
        filled = 0
        with self.lock:
            while filled < frames:
                if self.pos >= len(self.current):
                    if not self.buffer:
                        self.underruns += 1
                        break
                    self.current, self.pos = self.buffer.popleft(), 0
                n = min(frames - filled, len(self.current) - self.pos)
                outdata[filled : filled + n, 0] = self.current[self.pos : self.pos + n]
                filled, self.pos = filled + n, self.pos + n
        outdata[filled:, 0] = 0.0

    def close(self) -> None:
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:
            pass
