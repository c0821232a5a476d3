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
    """``../shared/data`` beside the project, where the real annotations are kept; None when absent.

    ``ACTIVELOC_SHARED_DATA`` points elsewhere.
    """
    folder = _shared_data_path(root)
    return folder if folder.is_dir() else None


def _shared_data_path(root: Path | None) -> Path:
    return Path(os.environ.get("ACTIVELOC_SHARED_DATA") or (root or project_root()).parent / "shared" / "data")


ACTIVITYNET_FILE = Path("activitynet-1.3") / "activity_net.v1-3.annotations.json"  # inside the shared data


def activitynet_annotations(root: Path | None = None) -> Path | None:
    """The real ActivityNet 1.3 annotation file, or None when the shared data is absent."""
    path = _shared_data_path(root) / ACTIVITYNET_FILE
    return path if path.is_file() else None


# The data active learning is studied on: the embedded simulated set (the default), and real
# ActivityNet 1.3 annotations with simulated features (an ActivityNet-structured simulation).
TESTBEDS = {
    "simulated": "simulated ActivityNet-like videos and features (embedded default data)",
    "activitynet": "real ActivityNet 1.3 annotations (training + validation) with simulated features",
}


def testbed_dirs(testbed: str = "simulated", root: Path | None = None) -> dict[str, Path]:
    """Where a testbed's data and results go: ``dataset``, ``experiments`` (under ``data/processed``),
    ``tables`` and ``figures`` (under ``reports``). The default testbed keeps the plain folders;
    another gets ``dataset-<testbed>``, ``experiments-<testbed>`` and a ``<testbed>`` sub-folder of each report folder."""
    if testbed not in TESTBEDS:
        raise ValueError(f"unknown testbed {testbed!r}; known: {sorted(TESTBEDS)}")
    root = root or project_root()
    suffix, sub = ("", "") if testbed == "simulated" else (f"-{testbed}", testbed)
    return {"dataset": root / "data" / "processed" / f"dataset{suffix}",
            "experiments": root / "data" / "processed" / f"experiments{suffix}",
            "tables": root / "reports" / "tables" / sub, "figures": root / "reports" / "figures" / sub}


def missing_testbed_data(testbed: str, root: Path | None = None) -> str | None:
    """Why ``testbed`` cannot be built here (a message naming what is missing), or None if it can."""
    if testbed == "activitynet" and activitynet_annotations(root) is None:
        return f"the real ActivityNet 1.3 annotations are absent ({_shared_data_path(root) / ACTIVITYNET_FILE})"
    return None
