"""Where things live: the project root and the shared real data beside it."""

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


def shared_data_path(root: Path | None = None) -> Path:
    """``../shared/data`` beside the project, where the real annotations are kept (whether or not it
    exists); ``ACTIVELOC_SHARED_DATA`` points elsewhere."""
    return Path(os.environ.get("ACTIVELOC_SHARED_DATA") or (root or project_root()).parent / "shared" / "data")


def shared_file(relative: str | os.PathLike, root: Path | None = None) -> Path | None:
    """A file of the shared data folder, or None when it is absent."""
    path = shared_data_path(root) / relative
    return path if path.is_file() else None


ACTIVITYNET_FILE = Path("activitynet-1.3") / "activity_net.v1-3.annotations.json"  # inside the shared data


KINETICS_DIR = Path("kinetics-600")  # inside the shared data
KINETICS_FILES = {"annotations": KINETICS_DIR / "k600_val_temporal_annotations.txt",
                  "categories": KINETICS_DIR / "k600_categories.txt",
                  "clips": KINETICS_DIR / "kinetics-600_val_clips.csv"}


def activitynet_annotations(root: Path | None = None) -> Path | None:
    """The real ActivityNet 1.3 annotation file, or None when the shared data is absent."""
    return shared_file(ACTIVITYNET_FILE, root)
