"""Layer 1, data: annotations (ActivityNet and Kinetics), their statistics, features, the simulator, datasets,
splits and testbeds."""

from .annotations import (AnnotationError, GroundTruth, LoadReport, read_ground_truth, read_results,
                          write_ground_truth, write_results)
from .attributes import dataset_statistics, joint_tables
from .dataset import Dataset, LabelBlindError, VideoSet, dataset_fingerprint, load_dataset, save_dataset
from .durations import DurationModel, calibrate_duration_model
from .features import HDF5FeatureStore, InMemoryFeatureStore, NpyFolderFeatureStore
from .kinetics import KineticsReport, read_kinetics
from .simulator import WORLDS, make_activitynet_like, simulate_features, world_params
from .splits import draw_subset, make_splits
from .testbeds import TESTBEDS, testbed_dirs

__all__ = ["AnnotationError", "Dataset", "DurationModel", "GroundTruth", "HDF5FeatureStore", "InMemoryFeatureStore",
           "KineticsReport", "LabelBlindError", "LoadReport", "NpyFolderFeatureStore", "TESTBEDS", "VideoSet", "WORLDS",
           "calibrate_duration_model", "dataset_fingerprint", "dataset_statistics", "draw_subset", "joint_tables",
           "load_dataset", "make_activitynet_like", "make_splits", "read_ground_truth", "read_kinetics",
           "read_results", "save_dataset", "simulate_features", "testbed_dirs", "write_ground_truth",
           "world_params", "write_results"]
