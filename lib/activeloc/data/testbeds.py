"""Testbeds: the data active learning is studied on, and where each one's data and results live.

* ``simulated`` (the default): the embedded ActivityNet-like set of :mod:`activeloc.data.simulator`;
* ``activitynet``: the real ActivityNet 1.3 annotations (training and validation) from the shared
  data folder, under simulated features: an ActivityNet-structured simulation.

A testbed knows how to build its annotations and features (:meth:`Testbed.build`), what it needs
that may be missing here (:meth:`Testbed.missing`), and its folders (:func:`testbed_dirs`). A new
testbed (Kinetics, a user's own annotations) is one more entry of :data:`TESTBEDS`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.paths import ACTIVITYNET_FILE, project_root, shared_data_path, shared_file
from .annotations import GroundTruth, read_ground_truth
from .features import InMemoryFeatureStore
from .simulator import make_activitynet_like, simulate_features


@dataclass(frozen=True)
class Testbed:
    name: str
    description: str
    annotations: Path | None = None  # inside the shared data folder; None: simulated annotations

    def missing(self, root: Path | None = None) -> str | None:
        """Why this testbed cannot be built here (naming what is missing), or None if it can."""
        if self.annotations is None:
            return None
        if shared_file(self.annotations, root) is None:
            return f"the real annotations are absent ({shared_data_path(root) / self.annotations})"
        return None

    def build(self, *, n_videos: int, n_classes: int, random_state=None, ground_truth_path=None,
              root: Path | None = None, **feature_params) -> tuple[GroundTruth, InMemoryFeatureStore, list[str]]:
        """Annotations, simulated features and the loader's repair messages (one line each).

        ``ground_truth_path`` puts any ActivityNet-layout file under simulated features;
        ``n_videos`` and ``n_classes`` apply to simulated annotations only.
        """
        path = ground_truth_path
        if path is None and self.annotations is not None:
            reason = self.missing(root)
            if reason:
                raise FileNotFoundError(f"testbed {self.name!r}: {reason}")
            path = shared_file(self.annotations, root)
        if path is None:
            gt, features = make_activitynet_like(n_videos, n_classes, random_state=random_state, **feature_params)
            return gt, features, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gt = read_ground_truth(path)
        gt = gt.select(gt.instances["video_id"].unique())  # annotated videos only
        return gt, simulate_features(gt, random_state=random_state, **feature_params), [str(w.message) for w in caught]


TESTBEDS = {
    "simulated": Testbed("simulated", "simulated ActivityNet-like videos and features (embedded default data)"),
    "activitynet": Testbed("activitynet", "real ActivityNet 1.3 annotations (training + validation) with simulated "
                                          "features", annotations=ACTIVITYNET_FILE),
}


def get_testbed(name: str) -> Testbed:
    if name not in TESTBEDS:
        raise ValueError(f"unknown testbed {name!r}; known: {sorted(TESTBEDS)}")
    return TESTBEDS[name]


def testbed_dirs(testbed: str = "simulated", root: Path | None = None) -> dict[str, Path]:
    """Where a testbed's data and results go: ``dataset``, ``experiments`` (under ``data/processed``),
    ``tables`` and ``figures`` (under ``reports``). The default testbed keeps the plain folders;
    another gets ``dataset-<testbed>``, ``experiments-<testbed>`` and a ``<testbed>`` sub-folder of
    each report folder."""
    get_testbed(testbed)
    root = root or project_root()
    suffix, sub = ("", "") if testbed == "simulated" else (f"-{testbed}", testbed)
    return {"dataset": root / "data" / "processed" / f"dataset{suffix}",
            "experiments": root / "data" / "processed" / f"experiments{suffix}",
            "tables": root / "reports" / "tables" / sub, "figures": root / "reports" / "figures" / sub}


def missing_testbed_data(testbed: str, root: Path | None = None) -> str | None:
    """Why ``testbed`` cannot be built here, or None if it can."""
    return get_testbed(testbed).missing(root)
