"""ONNX Runtime sessions for the voice graphs (synthesizer, content encoder, pitch): CUDA when this
onnxruntime build offers it, else CPU."""

from __future__ import annotations

from pathlib import Path

MISSING = "the ONNX back-end needs onnxruntime: pip install onnxruntime (or .[voice])"


def ort_session(path: str | Path, threads: int | None = None):
    """An InferenceSession for `path`; ImportError (with MISSING) when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(MISSING) from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), opts, providers=providers)
