from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """A MEDIA_ROOT of this test's own (the file system storage follows the setting)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def stored_paths(root: Path) -> list[Path]:
    """Every file under the storage root."""
    return sorted(p for p in root.rglob("*") if p.is_file())
