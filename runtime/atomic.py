"""Files the runtime writes (reports, its caches outside the bundle) appear whole or not at all:
written to a temporary name beside the target, then renamed over it (os.replace, atomic on
Windows and POSIX). Standard library only."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(path: str | Path, data, indent: int | None = 2) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
