"""activeloc: which video should be annotated next? Active learning for temporal action localization.

The package is layered; each layer imports only from the ones before it:
``core`` -> ``data`` -> ``localization`` -> ``evaluation`` -> ``active`` -> ``experiments`` ->
``reporting`` -> ``ui``. The names below are the public entry points.
"""

from importlib.metadata import PackageNotFoundError, version

from .active import (ActiveLearningLoop, AnnotationQueue, HumanOracle, SimulatedOracle, available_selectors,
                     check_selector, make_selector)
from .data import (AnnotationError, Dataset, GroundTruth, HDF5FeatureStore, InMemoryFeatureStore, LoadReport,
                   NpyFolderFeatureStore, VideoSet, load_dataset, make_activitynet_like, make_splits,
                   read_ground_truth, read_results, save_dataset, simulate_features, write_ground_truth,
                   write_results)
from .evaluation import aulc, average_precision, evaluate_detections, ratio_to_reach
from .experiments import make_cells, run_grid, selection_study
from .localization import StageWiseLocalizer, tiou

try:
    __version__ = version("activeloc")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = [
    "ActiveLearningLoop", "AnnotationError", "AnnotationQueue", "Dataset", "GroundTruth", "HDF5FeatureStore",
    "HumanOracle", "InMemoryFeatureStore", "LoadReport", "NpyFolderFeatureStore", "SimulatedOracle",
    "StageWiseLocalizer", "VideoSet", "aulc", "available_selectors", "average_precision", "check_selector",
    "evaluate_detections", "load_dataset", "make_activitynet_like", "make_cells", "make_selector", "make_splits",
    "ratio_to_reach", "read_ground_truth", "read_results", "run_grid", "save_dataset", "selection_study",
    "simulate_features", "tiou", "write_ground_truth", "write_results",
]
