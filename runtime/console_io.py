"""Console text that survives a Windows code page.

On a Chinese Windows the console's code page is cp936 (GBK): UTF-8 piped in reads as mojibake, and
an emoji printed out raises UnicodeEncodeError. `safe_streams()` (called once by `python -m runtime`)
reconfigures the standard streams before anything is read or written: a stream that is not an
interactive console (a pipe, a file) becomes UTF-8, and every stream replaces what it cannot
decode or encode instead of raising. An interactive console keeps its own encoding (Python talks
to the Windows console in UTF-16 there).
"""

from __future__ import annotations

import sys


def safe_stream(stream) -> None:
    if stream is None or not hasattr(stream, "reconfigure"):
        return
    try:
        interactive = stream.isatty()
    except (ValueError, OSError):  # closed, or not a real file
        return
    if interactive:
        stream.reconfigure(errors="replace")
    else:
        stream.reconfigure(encoding="utf-8", errors="replace")


def safe_streams() -> None:
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        safe_stream(stream)
