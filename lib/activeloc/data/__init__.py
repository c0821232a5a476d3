"""Layer 1, data: annotations, features, the simulator, datasets, splits and testbeds."""

from .annotations import (AnnotationError, GroundTruth, LoadReport, read_ground_truth, read_results,
                          write_ground_truth, write_results)
from .dataset import Dataset, LabelBlindError, VideoSet, dataset_fingerprint, load_dataset, save_dataset
from .features import HDF5FeatureStore, InMemoryFeatureStore, NpyFolderFeatureStore
from .simulator import make_activitynet_like, simulate_features
from .splits import draw_subset, make_splits
from .testbeds import TESTBEDS, testbed_dirs

__all__ = ["AnnotationError", "Dataset", "GroundTruth", "HDF5FeatureStore", "InMemoryFeatureStore", "LabelBlindError",
           "LoadReport", "NpyFolderFeatureStore", "TESTBEDS", "VideoSet", "dataset_fingerprint", "draw_subset",
           "load_dataset", "make_activitynet_like", "make_splits", "read_ground_truth", "read_results",
           "save_dataset", "simulate_features", "testbed_dirs", "write_ground_truth", "write_results"]
