"""notebooks/audio_audit.ipynb runs top to bottom on the demo voice stages' outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from pipelines.audio_clean.__main__ import main as audio_clean
from pipelines.audio_prep.__main__ import main as audio_prep
from pipelines.demo_data.audio import write_demo_audio
from pipelines.voice_features.__main__ import main as voice_features

REPO = Path(__file__).resolve().parents[1]


def test_audio_audit_notebook_executes(data_dir, monkeypatch):
    write_demo_audio(data_dir / "raw" / "audio", seed=7)
    for stage in (audio_prep, audio_clean, voice_features):
        stage([f"paths.data={data_dir}"])
    monkeypatch.setenv("STILL_DATA", str(data_dir))
    nb = nbformat.read(REPO / "notebooks" / "audio_audit.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 7, "minutes, drops, lengths/loudness, SNR, pitch, 2x before/after"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "NOT meaningful" in text  # the demo's random content model is called out
