"""Testbeds: the data active learning is studied on, and where each one's data and results live.

* ``simulated`` (the default): the embedded ActivityNet-like set of :mod:`activeloc.data.simulator`;
* ``activitynet``: the real ActivityNet 1.3 annotations (training and validation) from the shared
  data folder, under simulated features: an ActivityNet-structured simulation.
* ``kinetics``: the real Kinetics-600 temporal annotations from the shared data folder, converted by
  :func:`~activeloc.data.kinetics.read_kinetics` with the clip list, under simulated features: a
  Kinetics-structured simulation. Its limits: 9,625 instances in 6,461 videos (validation videos of
  all 600 classes, 9 to 17 per class), a third the size of ActivityNet; **durations estimated** from
  the last annotated end (the duration model of :mod:`~activeloc.data.durations`, calibrated on
  ActivityNet 1.3 where its file is present, else its documented constants; marked
  ``duration_estimated``), so the background after a video's last action is the model's, not the
  video's; features simulated, as on every testbed. The paper's category-disjoint splits
  (:func:`~activeloc.data.splits.make_splits`, a quarter of the classes for Knowledge-Source) give
  150 / 450 / 450 classes and, with seed 0, 905 / 3,621 / 1,209 videos (Knowledge-Source / Selection
  / Testing; the 726 other videos of the Knowledge-Source classes, beyond the paper's proportion, are
  left out). The 30 ids that are also ActivityNet videos do not
  matter within this testbed, only when it is mixed with the ``activitynet`` one.

A testbed knows how to build its annotations and features (:meth:`Testbed.build`), what it needs
that may be missing here (:meth:`Testbed.missing`), and its folders (:func:`testbed_dirs`). A new
testbed (Kinetics, a user's own annotations) is one more entry of :data:`TESTBEDS`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.paths import ACTIVITYNET_FILE, KINETICS_FILES, project_root, shared_data_path, shared_file
from .annotations import GroundTruth, read_ground_truth
from .features import InMemoryFeatureStore
from .kinetics import read_kinetics
from .simulator import make_activitynet_like, simulate_features


@dataclass(frozen=True)
class Testbed:
    name: str
    description: str
    annotations: Path | None = None  # inside the shared data folder; None: simulated annotations
    kind: str = "activitynet"  # how the annotations are read: "activitynet" (layout JSON) or "kinetics"

    def files(self) -> dict[str, Path]:
        """The shared-data files this testbed reads (relative to the shared data folder)."""
        if self.annotations is None:
            return {}
        return dict(KINETICS_FILES) if self.kind == "kinetics" else {"annotations": self.annotations}

    def missing(self, root: Path | None = None) -> str | None:
        """Why this testbed cannot be built here (naming what is missing), or None if it can."""
        absent = [str(shared_data_path(root) / f) for f in self.files().values() if shared_file(f, root) is None]
        if absent:
            return f"the real annotations are absent ({', '.join(absent)})"
        return None

    def read(self, root: Path | None = None) -> tuple[GroundTruth, list[str]]:
        """The real annotations (annotated videos only) and the loader's messages (one line each)."""
        reason = self.missing(root)
        if reason:
            raise FileNotFoundError(f"testbed {self.name!r}: {reason}")
        found = {name: shared_file(f, root) for name, f in self.files().items()}
        if self.kind != "kinetics":
            return _read_annotated(found["annotations"])
        activitynet_file = shared_file(ACTIVITYNET_FILE, root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its report says more than its one warning
            # ActivityNet, where present, calibrates the durations, as `activeloc convert-kinetics` does
            activitynet = None if activitynet_file is None else read_ground_truth(activitynet_file)
            gt = read_kinetics(found["annotations"], found["categories"], clips=found["clips"],
                               activitynet=activitynet)
        return gt, gt.report.summary().splitlines()

    def build(self, *, n_videos: int, n_classes: int, random_state=None, ground_truth_path=None,
              root: Path | None = None, **feature_params) -> tuple[GroundTruth, InMemoryFeatureStore, list[str]]:
        """Annotations, simulated features and the loader's repair messages (one line each).

        ``ground_truth_path`` puts any ActivityNet-layout file under simulated features;
        ``n_videos`` and ``n_classes`` apply to simulated annotations only.
        """
        if ground_truth_path is not None:
            gt, messages = _read_annotated(ground_truth_path)
        elif self.annotations is not None:
            gt, messages = self.read(root)
        else:
            gt, features = make_activitynet_like(n_videos, n_classes, random_state=random_state, **feature_params)
            return gt, features, []
        return gt, simulate_features(gt, random_state=random_state, **feature_params), messages


def _read_annotated(path) -> tuple[GroundTruth, list[str]]:
    """An ActivityNet-layout file's annotated videos, and the loader's repair messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gt = read_ground_truth(path)
    return gt.select(gt.instances["video_id"].unique()), [str(w.message) for w in caught]

TESTBEDS = {
    "simulated": Testbed("simulated", "simulated ActivityNet-like videos and features (embedded default data)"),
    "activitynet": Testbed("activitynet", "real ActivityNet 1.3 annotations (training + validation) with simulated "
                                          "features", annotations=ACTIVITYNET_FILE),
    "kinetics": Testbed("kinetics", "real Kinetics-600 temporal annotations (6,461 validation videos, estimated "
                                    "durations) with simulated features", annotations=KINETICS_FILES["annotations"],
                        kind="kinetics"),
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
