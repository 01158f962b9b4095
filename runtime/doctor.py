"""`python -m runtime doctor --bundle DIR`: can this bundle run here?

Checks integrity first (every checksum; a tampered, truncated or padded bundle is refused with a
non-zero exit), then reports what the machine offers against what the bundle needs: CPU/GPU, memory
needed for the chat model vs memory available, what the voice and face components need, and call
mode's memory next to chat mode's (do both fit on this GPU at once?).
Standard library only (torch, llama-cpp-python, onnxruntime and OpenCV are looked for, not required).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import platform
import subprocess
import sys

from runtime.bundle import BundleError, open_bundle

GB = 1024**3
# Working memory beyond the weights: activations, KV cache for a 12-message window, the tokenizer,
# Python itself. Measured ~0.4 GB for the 135M demo model; scaled up for bigger models.
OVERHEAD = 0.25


def available_memory() -> int | None:
    """Bytes of RAM available now (None where the platform does not say)."""
    if sys.platform == "win32":

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong)] + [
                (name, ctypes.c_ulonglong)
                for name in (
                    "total",
                    "avail",
                    "total_page",
                    "avail_page",
                    "total_virtual",
                    "avail_virtual",
                    "x",
                )
            ]

        status = MemoryStatus(dwLength=ctypes.sizeof(MemoryStatus))
        return status.avail if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)) else None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[tuple[str, int]]:
    """(name, free bytes) of each CUDA device: torch's view when torch is installed, else nvidia-smi's
    (a runtime without torch serves the GGUF through llama.cpp, whose CUDA build uses the same GPUs)."""
    if importlib.util.find_spec("torch") is None:
        return nvidia_smi_gpus()
    import torch

    if not torch.cuda.is_available():
        return []
    return [
        (torch.cuda.get_device_name(i), torch.cuda.mem_get_info(i)[0])
        for i in range(torch.cuda.device_count())
    ]


def nvidia_smi_gpus(run=subprocess.run) -> list[tuple[str, int]]:
    """GPUs as the NVIDIA driver's nvidia-smi lists them (none when it is missing or fails)."""
    query = ["nvidia-smi", "--query-gpu=name,memory.free", "--format=csv,noheader,nounits"]
    try:
        out = run(query, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        name, _, free_mib = line.rpartition(",")
        if name.strip() and free_mib.strip().isdigit():
            found.append((name.strip(), int(free_mib) * 2**20))
    return found


# Call mode beyond its model files: Python, numpy, OpenCV, ONNX Runtime and the live buffers (a few
# frames in flight, audio blocks). Measured on the demo call (2026-12-03, 720p camera, CPU): peak
# RSS 328 MB with ~92 MB of model files loaded, so ~0.2 GB; rounded up for 1080p frames.
CALL_RUNTIME = int(0.3 * GB)
VOICE_LOADED = ("onnx", "content_onnx", "pitch_onnx", "index_vectors")  # voice.json keys call mode loads
# ONNX Runtime holds a graph's weights once and allocates activations on top; the voice's graphs
# (content encoder + synthesizer) run at a few blocks a second with small activations.
ONNX_FACTOR = 1.5


def needed_memory(weights_bytes: int) -> int:
    return int(weights_bytes * (1 + OVERHEAD)) + int(0.3 * GB)


# llama.cpp beyond the GGUF file and its KV cache: compute buffers and the Python process (measured
# for SmolLM2-135M Q4_K_M: ~260 MB peak with a 105 MB file; bench/RESULTS.md 2026-12-06).
LLAMA_RUNTIME = int(0.25 * GB)
KV_BYTES = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}  # per cached value


def gguf_memory(bundle) -> int | None:
    """Bytes the llama.cpp engine needs for the bundle's GGUF (None: the bundle has none): the file,
    the KV cache for its context (layers x 2 x KV heads x head size x n_ctx) and the runtime."""
    gguf = bundle.chat_gguf
    if gguf is None:
        return None
    spec = bundle.components["chat_gguf"]
    config = json.loads((bundle.chat_model / "config.json").read_text(encoding="utf-8"))
    heads = config.get("num_attention_heads") or 1
    head_dim = config.get("head_dim") or config.get("hidden_size", 0) // heads
    kv_heads = config.get("num_key_value_heads") or config.get("multi_query_group_num") or heads
    layers = config.get("num_hidden_layers") or config.get("num_layers") or 0
    kv = (
        layers
        * 2
        * kv_heads
        * head_dim
        * spec.get("n_ctx", 4096)
        * KV_BYTES.get(spec.get("kv_cache_type"), 2.0)
    )
    return gguf.stat().st_size + int(kv) + LLAMA_RUNTIME


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder else 0


def voice_loaded_bytes(folder) -> int:
    """The voice files call mode loads (not the RVC .pth/.index shipped for other tools)."""
    if folder is None:
        return 0
    spec = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
    return sum((folder / spec[k]).stat().st_size for k in VOICE_LOADED if spec.get(k))


def call_memory(bundle) -> int | None:
    """Bytes call mode needs with this bundle's face and voice (None when it has neither); a model
    swapper given on the command line (inswapper_128: 0.55 GB file) comes on top."""
    if bundle.voice is None and bundle.face is None:
        return None
    return int(ONNX_FACTOR * (voice_loaded_bytes(bundle.voice) + folder_bytes(bundle.face))) + CALL_RUNTIME


def call_lines(chat_need: int, call_need: int | None, devices: list[tuple[str, int]], free_ram) -> list[str]:
    """Call mode's estimate next to chat mode's, and whether both fit at once (GPU, else RAM)."""
    if call_need is None:
        return ["call mode: no face or voice component"]
    both = chat_need + call_need
    lines = [
        f"call mode: ~{call_need / GB:.1f} GB (face + voice; a model swapper such as inswapper_128 adds "
        f"~0.8 GB); chat mode ~{chat_need / GB:.1f} GB; both at once ~{both / GB:.1f} GB"
    ]
    for name, free in devices:
        verdict = "fit together" if free >= both else "do not fit"
        if free < both and free >= max(chat_need, call_need):
            verdict = "fit one at a time"
        lines.append(f"call + chat on {name}: {verdict} ({free / GB:.1f} GB free)")
    if not devices and free_ram is not None:
        verdict = "fit together" if free_ram >= both else "do not fit together (run one at a time)"
        lines.append(f"call + chat in RAM: {verdict} ({free_ram / GB:.1f} GB available)")
    return lines


def voice_lines(bundle) -> list[str]:
    """What the voice component is and whether its ONNX back-end can run here."""
    if bundle.voice is None:
        return ["voice: none (text-only bundle)"]
    v = bundle.components["voice"]
    line = f"voice: RVC {v['version']} at {v['sample_rate'] // 1000} kHz, {v['trained_steps']} training steps"
    if not v["content_meaningful"]:
        line += " (DEMO: random content encoder, not a usable voice)"
    try:
        import onnxruntime

        providers = ", ".join(onnxruntime.get_available_providers())
        backend = f"onnxruntime {onnxruntime.__version__} ({providers})"
    except ImportError:
        backend = "onnxruntime MISSING: pip install onnxruntime to use the voice"
    return [line, f"voice back-end: {backend}"]


def face_lines(bundle) -> list[str]:
    """What the face component is and whether the live face path can run here (OpenCV for capture,
    detection and compositing; ONNX Runtime for model swappers)."""
    if bundle.face is None:
        return ["face: none (no live face swap)"]
    from runtime.onnx_sessions import available_providers

    f = bundle.components["face"]
    crop = f["crop"]
    lines = [
        f"face: {f['faces']} persona faces ({crop['template']} {crop['size']}px crops), default swapper "
        f"{f['default_swapper']}, identities {', '.join(f['identities']) or 'none'}"
    ]
    try:
        import cv2

        opencv = f"OpenCV {cv2.__version__}"
    except ImportError:
        opencv = "OpenCV MISSING: pip install opencv-python to use the face"
    try:
        import onnxruntime

        providers = ", ".join(available_providers())
        onnx = f"onnxruntime {onnxruntime.__version__} ({providers})"
    except ImportError:
        onnx = "onnxruntime MISSING: pip install onnxruntime for the model swappers"
    return [*lines, f"face back-end: {opencv}; {onnx}"]


TRUST_WORDS = {
    "pinned": "first use on this PC: now trusted for this name",
    "trusted": "trusted on this PC",
    "replaced": "the new key is now trusted for this name",
}


def report(bundle_dir: str, trust_new_key: bool = False) -> tuple[int, list[str]]:
    """(exit code, lines to print). 0: runs here; 1: bundle refused; 2: intact but will not fit."""
    try:  # every byte, whatever a start remembered
        bundle = open_bundle(bundle_dir, full=True, accept_new_key=trust_new_key)
    except BundleError as e:
        return 1, [f"REFUSED: {e}"]
    from runtime.prompt import contract_problems

    problems = contract_problems(bundle.model_info, bundle.policy)
    if problems:
        return 1, [f"REFUSED: the chat model cannot be served as it was trained: {p}" for p in problems]
    m = bundle.manifest
    chat = bundle.components["chat_model"]
    need = needed_memory(chat["weights_bytes"])
    gguf_need = gguf_memory(bundle)
    engine = "transformers"
    if gguf_need is not None and importlib.util.find_spec("llama_cpp") is not None:
        engine, need = "llama.cpp", gguf_need  # what `chat --engine auto` loads
    elif importlib.util.find_spec("torch") is None:
        engine = None  # neither engine is installed: said last
    lines = [
        f"bundle {m['name']} (schema {m['schema_version']}, built {m['created']}): {len(m['files'])} files, "
        "all checksums match",
        f"signed by key {bundle.public_key[:16]}… ({TRUST_WORDS[bundle.trust]})",
        f"components: {', '.join(bundle.components)}",
        f"chat model: {chat['base_model']}, {chat['weights_bytes'] / GB:.2f} GB weights, "
        f"prompt format v{chat['prompt_format_version']}",
        "consent: {relationship}, {date}, for {permitted_use}".format(**m["consent"]),
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPU threads",
    ]
    lines += voice_lines(bundle)
    lines += face_lines(bundle)
    devices = gpus()
    lines += [f"GPU: {name}, {free / GB:.1f} GB free" for name, free in devices] or [
        "GPU: none (CPU inference)"
    ]
    free_ram = available_memory()
    fits_gpu = any(free >= need for _, free in devices)
    fits_ram = free_ram is None or free_ram >= need
    if gguf_need is not None:
        spec = bundle.components["chat_gguf"]
        lines.append(
            f"chat engines: llama.cpp ({spec['level']}, {spec['n_ctx']}-token context, "
            f"{spec['kv_cache_type']} KV cache) ~{gguf_need / GB:.2f} GB; transformers "
            f"~{needed_memory(chat['weights_bytes']) / GB:.2f} GB; `chat` uses {engine or 'none'}"
            + ("" if engine == "llama.cpp" else " (pip install .[llama] for llama.cpp)")
        )
    lines.append(
        f"memory: chat model ({engine or 'transformers'}) needs ~{need / GB:.1f} GB; "
        + (f"{free_ram / GB:.1f} GB RAM available" if free_ram is not None else "available RAM unknown")
    )
    lines += call_lines(need, call_memory(bundle), devices, free_ram)
    if engine is None:
        install = "pip install .[llama] (the bundle's GGUF) or " if gguf_need is not None else ""
        lines.append(f"NO CHAT ENGINE INSTALLED: {install}pip install .[torch] (the merged model)")
        return 2, lines
    if fits_gpu:
        lines.append("OK: the chat model runs on the GPU")
    elif fits_ram:
        lines.append("OK: the chat model runs on the CPU" + (" (GPU memory too small)" if devices else ""))
    else:
        lines.append("NOT ENOUGH MEMORY: close other programs, or build a smaller / 4-bit model")
        return 2, lines
    return 0, lines
