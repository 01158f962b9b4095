"""Shared test fixtures: real config composed from conf/, shrunk to temp paths."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # see stack-notes: 2 cores shared with neighbours

from pathlib import Path

import pytest
from omegaconf import DictConfig

from pipelines.stage import compose_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data root laid out like data/ (raw inputs go under raw/chats etc.)."""
    root = tmp_path / "data"
    (root / "raw" / "chats").mkdir(parents=True)
    return root


@pytest.fixture
def make_cfg(data_dir: Path):
    """Compose the real config from conf/, re-rooted at `data_dir`, with extra overrides."""

    def make(*overrides: str) -> DictConfig:
        return compose_config([f"paths.data={data_dir}", *overrides])

    return make
