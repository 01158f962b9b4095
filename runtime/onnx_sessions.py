"""ONNX Runtime sessions for every graph the runtime runs (voice, face): the best execution provider
this onnxruntime build offers (CUDA, then DirectML on Windows, then CPU), falling back to the CPU
with a warning when a GPU provider is listed but fails to start (a missing CUDA/cuDNN DLL, an old
driver), so a call never dies on a provider.

    session = ort_session("face/inswapper.onnx")   # session.get_providers()[0] says which one runs
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("still.onnx")

MISSING = "this needs onnxruntime: pip install onnxruntime (or .[voice] / .[face])"
# Preference order; onnxruntime-gpu offers CUDA, onnxruntime-directml offers DirectML (Windows GPUs).
PREFERRED = ("CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider")


def available_providers() -> list[str]:
    """The preferred providers this onnxruntime build offers, best first ([] without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    offered = ort.get_available_providers()
    return [p for p in PREFERRED if p in offered]


def ort_session(path: str | Path, threads: int | None = None, providers: list[str] | None = None,
                where: str | None = None):  # fmt: skip
    """An InferenceSession for `path` on the first provider of `providers` (default: the best
    available) that starts; FileNotFoundError naming the file (and `where` users get it) when it is
    missing; ImportError (with MISSING) when onnxruntime is not installed."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found" + (f": {where}" if where else ""))
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(MISSING) from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    wanted = list(providers) if providers else available_providers()
    if "CPUExecutionProvider" not in wanted:
        wanted.append("CPUExecutionProvider")
    errors = []
    for i, provider in enumerate(wanted):
        try:
            session = ort.InferenceSession(str(path), opts, providers=wanted[i:])
        except Exception as e:  # onnxruntime raises its own types (Fail, RuntimeException, ...)
            if provider == "CPUExecutionProvider":
                raise
            errors.append(f"{provider}: {e}")
            continue
        running = session.get_providers()[0]
        if running != wanted[0]:  # onnxruntime may also fall back by itself, without raising
            log.warning("%s: %s did not start%s; running on %s", Path(path).name, wanted[0],
                        f" ({'; '.join(errors)})" if errors else "", running)  # fmt: skip
        return session
    raise RuntimeError(f"{path}: no ONNX Runtime provider could start ({'; '.join(errors)})")
