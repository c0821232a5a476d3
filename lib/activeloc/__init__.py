"""activeloc: which video should be annotated next? Active learning for temporal action localization."""

from importlib.metadata import PackageNotFoundError, version

from .annotations import (
    AnnotationError,
    GroundTruth,
    LoadReport,
    read_ground_truth,
    read_results,
    write_ground_truth,
    write_results,
)
from .features import HDF5FeatureStore, InMemoryFeatureStore, NpyFolderFeatureStore
from .metrics import aulc, average_precision, evaluate_detections, ratio_to_reach, tiou
from .simulator import make_activitynet_like, simulate_features
from .splits import make_splits

try:
    __version__ = version("activeloc")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = [
    "AnnotationError",
    "GroundTruth",
    "HDF5FeatureStore",
    "InMemoryFeatureStore",
    "LoadReport",
    "NpyFolderFeatureStore",
    "aulc",
    "average_precision",
    "evaluate_detections",
    "make_activitynet_like",
    "make_splits",
    "ratio_to_reach",
    "read_ground_truth",
    "read_results",
    "simulate_features",
    "tiou",
    "write_ground_truth",
    "write_results",
]
