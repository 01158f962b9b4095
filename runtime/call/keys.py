"""Hotkeys in the console a call runs in: `k` switches to the caller's own face and voice, `q` ends
the call. `poll()` never blocks and returns a key or None.

Windows: msvcrt (the console's own key buffer). POSIX terminals: stdin in cbreak mode, read with
select. Anything else (stdin piped or closed, a service): no keys; the STOP file still works.
Tests pass a fake with the same `poll()`/`close()`.
"""

from __future__ import annotations

import sys


class NoKeys:
    def poll(self) -> str | None:
        return None

    def close(self) -> None:
        pass


class WindowsKeys:
    def __init__(self):
        import msvcrt

        self.msvcrt = msvcrt

    def poll(self) -> str | None:
        if not self.msvcrt.kbhit():
            return None
        key = self.msvcrt.getwch()
        if key in ("\x00", "\xe0"):  # a function or arrow key: a second code follows
            self.msvcrt.getwch()
            return None
        return key.lower()

    def close(self) -> None:
        pass


class PosixKeys:
    def __init__(self, stream=None):
        import termios
        import tty

        self.stream = stream or sys.stdin
        self.fd = self.stream.fileno()
        self.termios = termios
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def poll(self) -> str | None:
        import select

        ready, _, _ = select.select([self.fd], [], [], 0)
        if not ready:
            return None
        key = self.stream.read(1)
        return key.lower() if key else None

    def close(self) -> None:
        self.termios.tcsetattr(self.fd, self.termios.TCSADRAIN, self.saved)


def console_keys():
    """The hotkeys this console offers (NoKeys when stdin is not an interactive console)."""
    try:
        if not sys.stdin or not sys.stdin.isatty():
            return NoKeys()
        return WindowsKeys() if sys.platform == "win32" else PosixKeys()
    except (ImportError, OSError, ValueError):
        return NoKeys()
