"""notebooks/text_audit.ipynb runs top to bottom on the demo pipeline's outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from pipelines.anonymize.__main__ import main as anonymize
from pipelines.demo_data.__main__ import main as demo_data
from pipelines.ingest.__main__ import main as ingest
from pipelines.sft_data.__main__ import main as sft_data

REPO = Path(__file__).resolve().parents[1]


def test_text_audit_notebook_executes(data_dir, monkeypatch):
    for stage in (demo_data, ingest, anonymize, sft_data):
        stage([f"paths.data={data_dir}", "demo_data.days=40", "sft_data.memory.fraction=0",
               "anonymize.person.tagger=null"])  # fmt: skip
    monkeypatch.setenv("STILL_DATA", str(data_dir))
    nb = nbformat.read(REPO / "notebooks" / "text_audit.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 4, "the audit shows plots, not only tables"
