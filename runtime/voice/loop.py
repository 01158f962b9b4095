"""The voice half of a call: microphone blocks -> the persona's voice -> the virtual microphone.

`VoiceLink.step(block) -> block` is the per-block core (no devices, no threads):

- a noise gate: a block opens the gate when it is louder than `open_db`; the gate closes after
  `hold` blocks below `close_db`. A closed gate sends silence (not the converter's version of room
  noise or of the call's own audio coming back through the speakers);
- the kill switch: from the first block after it engages, the caller's own voice goes out instead,
  with a short fade so the switch does not click (the converter keeps running on silence, so its
  buffers are empty and in step when the persona's voice is wanted again);
- a spoken disclosure (optional): a recording fed through the converter before the microphone, so
  the first thing the other side hears is the persona's voice saying it is an AI voice.

`VoiceLoop` runs it on its own thread against a duplex device (runtime.voice.devices) and survives the
device: a read or write that fails closes it and reopens it every second (by name, so a headset
plugged back into another port is found); a device that comes back at another rate gets a new
`LiveVoice` at that rate. Media time (blocks done x block length) is what the call compares with the
video's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from runtime.clock import SYSTEM
from runtime.timings import Timings
from runtime.voice.devices import AudioDeviceError, FormatRefused, split_blocks
from runtime.voice.live import LiveVoice

SWITCH_FADE_S = 0.01


def level_db(block: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(block, dtype=np.float64)) + 1e-12))


class NoiseGate:
    def __init__(self, open_db: float = -45.0, close_db: float = -50.0, hold: int = 2):
        if close_db > open_db:
            raise ValueError(f"the gate closes ({close_db} dB) above where it opens ({open_db} dB)")
        self.open_db, self.close_db, self.hold = open_db, close_db, hold
        self.is_open, self.quiet = False, 0

    def __call__(self, block: np.ndarray) -> bool:
        db = level_db(block)
        if db >= self.open_db:
            self.is_open, self.quiet = True, 0
        elif self.is_open and db < self.close_db:
            self.quiet += 1
            self.is_open = self.quiet <= self.hold
        return self.is_open


@dataclass
class VoiceStats:
    blocks: int = 0
    converted: int = 0  # blocks with the gate open, in the persona's voice
    gated: int = 0  # blocks sent as silence
    own_voice: int = 0  # blocks with the kill switch engaged
    late: int = 0  # blocks whose processing took longer than a block
    device_gaps: int = 0  # device over/underflows (PortAudio) and blocks lost while a device was gone
    device_losses: int = 0
    rate_changes: int = 0
    disclosure_blocks: int = 0
    compute: Timings = field(default_factory=Timings)


class VoiceLink:
    """`gate=None`: no noise gate (every block goes through)."""

    def __init__(self, live: LiveVoice, gate: NoiseGate | None, kill, intro: np.ndarray | None = None):
        self.live, self.gate, self.kill = live, gate, kill
        self.stats = VoiceStats()
        self.own = False
        self.intro = [] if intro is None else split_blocks(intro, live.device_block)

    @property
    def block(self) -> int:
        return self.live.device_block

    def step(self, mic: np.ndarray) -> np.ndarray:
        s = self.stats
        s.blocks += 1
        source = mic
        if self.intro:
            source = self.intro.pop(0)
            s.disclosure_blocks += 1
        is_open = self.gate is None or self.gate(source)
        own = self.kill.engaged()
        converted = self.live.step(source if is_open and not own else np.zeros_like(source))
        if own:
            s.own_voice += 1
            out = mic * is_open
        else:
            out = converted
            s.converted += is_open
        s.gated += not is_open
        if own != self.own:  # a switch between the two voices: fade the new one in
            self.own = own
            fade = np.linspace(0.0, 1.0, max(1, round(SWITCH_FADE_S * self.live.device_sr)), dtype=np.float32)
            out = out.copy()
            out[: len(fade)] *= fade
        return np.asarray(out, np.float32)


class VoiceLoop:
    """`run(stop)` on a thread: read, step, write, until `stop` or the device ends (a file)."""

    def __init__(self, link: VoiceLink, open_device, event=None, monitor=None, clock=SYSTEM,
                 reopen_every: float = 1.0):  # fmt: skip
        self.link, self.open_device = link, open_device
        self.event = event or (lambda name, **fields: None)
        self.monitor, self.clock, self.reopen_every = monitor, clock, reopen_every
        self.samplerate = link.live.device_sr
        self.device = open_device(self.samplerate, link.block)  # fails early, before the call starts
        self.latency = self.device.latency
        self.media_s = 0.0  # seconds of audio the output has been given (or lost while gone)
        self.slack_s = 0.0
        self.finished = threading.Event()

    @property
    def stats(self) -> VoiceStats:
        return self.link.stats

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    block = self.device.read()
                    if block is None:
                        if self.device.ended:
                            break
                        continue
                    t0 = time.perf_counter()
                    out = self.link.step(block)
                    dt = time.perf_counter() - t0
                    self.stats.compute.add(dt)
                    self.stats.late += dt > self.link.block / self.samplerate
                    self.device.write(out)
                    self.media_s += self.link.block / self.samplerate
                    self.slack_s = self.link.live.slack_s  # between blocks: what a listener waits
                    if self.monitor is not None:
                        self.monitor.write(out)
                except AudioDeviceError as e:
                    self._recover(e, stop)
        finally:
            self.device.close()
            self.finished.set()

    def _recover(self, error: AudioDeviceError, stop: threading.Event) -> None:
        self.stats.device_losses += 1
        self.stats.device_gaps += self._flows()
        self.event("audio_device_lost", error=str(error))
        self.device.close()
        lost_from = self.clock.now()
        while not stop.is_set():
            self.clock.sleep(self.reopen_every)
            try:
                device = self.open_device(self.samplerate, self.link.block)
            except FormatRefused as e:  # the device came back at another rate: follow it
                try:
                    device = self._at_rate(e.device_rate)
                except AudioDeviceError:
                    continue
            except AudioDeviceError:
                continue
            gone = self.clock.now() - lost_from
            self.stats.device_gaps += round(gone * self.samplerate / self.link.block)
            self.media_s += gone
            self.device, self.latency = device, device.latency
            self.event("audio_device_back", after_s=round(gone, 2), samplerate=self.samplerate)
            return

    def _at_rate(self, rate: int):
        live = LiveVoice(self.link.live.sc, rate)
        device = self.open_device(rate, live.device_block)
        self.event("audio_rate_changed", was=self.samplerate, now=rate)
        self.stats.rate_changes += 1
        self.samplerate = rate
        self.link.live = live  # the same gate, kill switch and converter state, at the new rate
        self.link.intro.clear()  # its blocks have the old rate's length; the call lost it anyway
        return device

    def _flows(self) -> int:
        """Over- and underflows the open device reported (PortAudio's gaps)."""
        return getattr(self.device, "overflows", 0) + getattr(self.device, "underflows", 0)

    def report(self) -> dict:
        s, live = self.stats, self.link.live
        device_ms = 1000 * sum(self.latency)
        compute_ms = 1000 * s.compute.mean
        return {
            "samplerate": self.samplerate,
            "block_ms": round(1000 * self.link.block / self.samplerate, 1),
            "blocks": s.blocks,
            "converted": s.converted,
            "gated": s.gated,
            "own_voice": s.own_voice,
            "disclosure_blocks": s.disclosure_blocks,
            "late_blocks": s.late,
            "device_gaps": s.device_gaps + self._flows(),
            "device_losses": s.device_losses,
            "rate_changes": s.rate_changes,
            "resampler_underruns": live.underruns,
            "latency_ms": {
                "algorithmic": round(1000 * live.sc.latency_s, 1),
                "slack": round(1000 * self.slack_s, 1),
                "compute": round(compute_ms, 1),
                "device": round(device_ms, 1),
                "total": round(1000 * (live.sc.latency_s + self.slack_s) + compute_ms + device_ms, 1),
            },
            "compute_ms": s.compute.summary_ms(),
            "media_s": round(self.media_s, 3),
        }
