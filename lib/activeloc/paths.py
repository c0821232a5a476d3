"""Where things live: the project root, its data and reports folders, and the shared real data."""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``notebooks/``, searched upwards from ``start`` (or the cwd).

    ``ACTIVELOC_ROOT`` overrides the search.
    """
    if os.environ.get("ACTIVELOC_ROOT"):
        return Path(os.environ["ACTIVELOC_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise FileNotFoundError(f"no activeloc project (pyproject.toml with notebooks/) above {here}")


def shared_data_dir(root: Path | None = None) -> Path | None:
    """``../shared/data`` beside the project, where the real annotations are kept; None when absent."""
    folder = (root or project_root()).parent / "shared" / "data"
    return folder if folder.is_dir() else None


def activitynet_annotations(root: Path | None = None) -> Path | None:
    """The real ActivityNet 1.3 annotation file, or None when the shared data is absent."""
    shared = shared_data_dir(root)
    path = None if shared is None else shared / "activitynet-1.3" / "activity_net.v1-3.annotations.json"
    return path if path is not None and path.is_file() else None
