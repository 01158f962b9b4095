"""notebooks/face_audit.ipynb runs top to bottom on the face stages' outputs for the demo photos."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from pipelines.demo_data.photos import write_photos
from pipelines.face_align.__main__ import main as face_align
from pipelines.face_curate.__main__ import main as face_curate

REPO = Path(__file__).resolve().parents[1]


def test_face_audit_notebook_executes(data_dir, monkeypatch):
    write_photos(data_dir / "raw" / "photos")
    for stage in (face_align, face_curate):
        stage([f"paths.data={data_dir}"])
    monkeypatch.setenv("STILL_DATA", str(data_dir))
    nb = nbformat.read(REPO / "notebooks" / "face_audit.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 5, "contact sheets, coverage grid and distributions are plots"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "grid_cells_filled" in text
