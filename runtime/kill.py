"""The kill switch of the live modes: the caller's own camera and voice, at once.

Engaged once `path` exists (the bundle's STOP file, which a family member can create from anywhere)
or after `trip()` (a hotkey). The face engine checks it every frame, the voice every block.
"""

from __future__ import annotations

from pathlib import Path
from threading import Event


class KillSwitch:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.event = Event()

    def trip(self) -> None:
        self.event.set()

    def engaged(self) -> bool:
        return self.event.is_set() or (self.path is not None and self.path.exists())
