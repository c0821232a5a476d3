"""Videos as the localizer, the selectors and the loop see them.

:class:`VideoSet` holds videos without their annotations: ids, durations and snippet features.
It is what a selector gets as its pool: asking it for instances is an error, so a selector
cannot read the answers it is meant to ask for. :class:`Dataset` adds the annotations (and,
optionally, the category-disjoint splits). Subsets of either share one :class:`DerivedData`
store, where deterministic functions of the features (the localizer's encoded candidate
segments) are computed once for every video of the set first made and reused by every subset;
nothing fitted is ever kept there.

On disk a dataset is a folder (what ``01-dataset`` writes): ``ground_truth.json``,
``splits.csv``, ``features.h5`` (the C3D layout) and ``parameters.json``;
:func:`save_dataset` writes it, :func:`load_dataset` reads it and :func:`dataset_fingerprint`
digests its contents.
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from pathlib import Path

import joblib
import pandas as pd

from ..core.errors import InputError, one_line
from ..core.ids import among
from ..core.fingerprint import code_fingerprint, files_fingerprint
from ..core.io import dump_atomic, write_json_atomic, write_text_atomic
from .annotations import GroundTruth, read_ground_truth, write_ground_truth
from .features import FeatureStore, HDF5FeatureStore, write_hdf5_features
from .splits import SPLITS

DATASET_FILES = ("ground_truth.json", "splits.csv", "features.h5", "parameters.json")


class LabelBlindError(AttributeError):
    """A label-blind set of videos was asked for its annotations."""


class DerivedData:
    """Values derived deterministically from the features of ``universe``'s videos, built once on
    first use and shared by every subset. Keys must be hashable values that say what the value
    is computed from (e.g. a proposal source and an encoder, both frozen).

    ``store``: a folder where each value is also kept on disk (for a dataset folder, its
    ``derived/<fingerprint>/``), named by a digest of its key, its universe and the code's
    fingerprint. Another process then maps the stored value instead of building it again (the
    candidate matrix takes tens of seconds to encode), and the processes of a parallel grid share
    one copy of it in memory: its arrays are memory-mapped, read-only.
    """

    def __init__(self, universe, store: str | os.PathLike | None = None):
        self.universe = list(universe)
        self.store = None if store is None else Path(store)
        self._values: dict = {}

    def get(self, key, build):
        """The value for ``key``, built as ``build(universe)`` the first time."""
        if key not in self._values:
            self._values[key] = build(self.universe) if self.store is None else self._stored(key, build)
        return self._values[key]

    def _stored(self, key, build):
        code = code_fingerprint()
        path = self.store / f"{code}-{joblib.hash((key, self.universe), hash_name='sha1')[:16]}.joblib"
        try:
            return joblib.load(path, mmap_mode="r")
        except FileNotFoundError:
            pass
        except Exception as exc:  # unreadable (cut short by a crash of its writer): built again
            warnings.warn(f"{path}: unreadable stored value ({one_line(exc)}); building it again", stacklevel=3)
        value = build(self.universe)
        try:
            dump_atomic(value, path)
        except OSError as exc:  # a full or read-only disk costs time, not the result
            warnings.warn(f"{path}: could not store the derived value ({one_line(exc)}); it lives in memory only",
                          stacklevel=3)
            return value
        for old in self.store.glob("*.joblib"):  # what older code derived will not be read again
            if not old.name.startswith(f"{code}-"):
                old.unlink(missing_ok=True)
        return joblib.load(path, mmap_mode="r")


class VideoSet:
    """Videos without their annotations: ``video_ids``, their ``durations()`` and ``features``.

    ``durations`` maps video ids to seconds (a Series or dict covering at least ``video_ids``).
    """

    def __init__(self, features: FeatureStore, durations, video_ids, *, derived: DerivedData | None = None):
        self.features = features
        self._durations = pd.Series(durations, dtype=float) if not isinstance(durations, pd.Series) else durations
        self.video_ids = list(video_ids)
        self.derived = derived if derived is not None else DerivedData(self.video_ids)

    def durations(self) -> pd.Series:
        """Seconds per video, in ``video_ids`` order."""
        missing = pd.Index(self.video_ids).difference(self._durations.index)
        if len(missing):
            raise KeyError(f"no duration for videos {list(missing[:5])}")
        return self._durations.loc[self.video_ids]

    def __len__(self) -> int:
        return len(self.video_ids)

    def subset(self, video_ids) -> VideoSet:
        """The same videos' data restricted to ``video_ids``, sharing the derived data."""
        return VideoSet(self.features, self._durations, video_ids, derived=self.derived)

    def without_labels(self) -> VideoSet:
        """These videos, label-blind (a set without labels already is)."""
        return self

    @property
    def instances(self):
        raise LabelBlindError(f"this set of {len(self.video_ids)} videos is label-blind (an unlabelled pool): "
                              "its annotations are what the oracle is asked for")

    @property
    def ground_truth(self):
        return self.instances


class Dataset(VideoSet):
    """Annotations, features and the videos in play.

    ``video_ids`` defaults to the index of ``splits`` when given, else to every video of
    ``ground_truth``; ``splits`` is the table of :func:`activeloc.data.splits.make_splits`. What
    a dataset shows (``ground_truth``, ``instances``, ``splits``) covers its own videos only, so a
    labelled set handed to a selector says nothing about the pool.
    """

    def __init__(self, ground_truth: GroundTruth, features: FeatureStore, video_ids=None,
                 splits: pd.DataFrame | None = None, *, derived: DerivedData | None = None):
        if video_ids is None:
            video_ids = splits.index if splits is not None else ground_truth.videos.index
        super().__init__(features, ground_truth.durations(), video_ids, derived=derived)
        self._ground_truth = ground_truth
        self.splits = None if splits is None else splits[among(splits.index, self.video_ids)]

    @functools.cached_property
    def ground_truth(self) -> GroundTruth:
        return self._ground_truth.select(self.video_ids)

    @property
    def instances(self) -> pd.DataFrame:
        return self.ground_truth.instances

    def subset(self, video_ids, ground_truth: GroundTruth | None = None) -> Dataset:
        """The same data restricted to ``video_ids``, sharing the derived data.

        ``ground_truth`` replaces the annotations (e.g. those an oracle returned).
        """
        return Dataset(ground_truth or self._ground_truth, self.features, list(video_ids), self.splits,
                       derived=self.derived)

    def split(self, name: str) -> Dataset:
        if self.splits is None:
            raise ValueError("this dataset has no splits")
        return self.subset(self.splits.index[self.splits["split"] == name])

    def without_labels(self) -> VideoSet:
        """The same videos, label-blind (what a selector's pool is)."""
        return VideoSet(self.features, self._durations, self.video_ids, derived=self.derived)


def save_dataset(folder: str | os.PathLike, ground_truth: GroundTruth, features: FeatureStore,
                 splits: pd.DataFrame, parameters: dict) -> Path:
    """Write a dataset folder (each file atomically, ``parameters.json`` last); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_ground_truth(ground_truth, folder / "ground_truth.json")
    write_text_atomic(splits.rename_axis("video_id").reset_index().to_csv(index=False), folder / "splits.csv")
    write_hdf5_features(features, folder / "features.h5", video_ids=list(splits.index))
    write_json_atomic(parameters, folder / "parameters.json", indent=2)
    return folder


class NotADatasetFolder(InputError, FileNotFoundError):
    """A folder that lacks a file of the dataset layout."""


class DatasetFolderError(InputError, ValueError):
    """A malformed file of a dataset folder; names the file and the row, video or column at fault."""


def check_dataset_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path, if it holds the files :func:`save_dataset` writes (else a one-line error)."""
    folder = Path(folder)
    for name in DATASET_FILES[:3]:
        if not (folder / name).is_file():
            raise NotADatasetFolder(f"{folder / name}: no such file (is {folder} a dataset folder written by 01-dataset?)")
    return folder


def load_dataset(folder: str | os.PathLike) -> Dataset:
    """Read what :func:`save_dataset` wrote."""
    folder = check_dataset_folder(folder)
    gt = read_ground_truth(folder / "ground_truth.json")
    splits = _read_splits(folder / "splits.csv", gt)
    store = HDF5FeatureStore(folder / "features.h5", gt.durations().to_dict())
    return Dataset(gt, store, list(splits.index), splits, derived=DerivedData(splits.index, derived_store(folder)))


def derived_store(folder: str | os.PathLike) -> Path:
    """Where the values derived from a dataset folder's content are stored: ``derived/<fingerprint>``
    inside it (what was derived from an earlier content of the folder is removed)."""
    folder = Path(folder)
    current = dataset_fingerprint(folder)
    if (folder / "derived").is_dir():
        for old in (folder / "derived").iterdir():
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)  # a process still mapping a file keeps it until it is done
    return folder / "derived" / current


def _read_splits(path: Path, ground_truth: GroundTruth) -> pd.DataFrame:
    """The ``splits.csv`` of a dataset folder, indexed by ``video_id``, each row checked against the
    folder's ground truth and the split names (else a one-line error naming the file and the row)."""
    try:
        table = pd.read_csv(path, dtype={"video_id": str}, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetFolderError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except pd.errors.EmptyDataError:
        raise DatasetFolderError(f"{path}: empty file; expected a header with columns 'video_id' and 'split'") from None
    except pd.errors.ParserError as exc:
        raise DatasetFolderError(f"{path}: not a readable CSV table ({one_line(exc)})") from None
    for column in ("video_id", "split"):
        if column not in table.columns:
            raise DatasetFolderError(f"{path}: column {column!r} missing from the header {list(table.columns)}")
    seen = set()
    # Rows counted from 1 after the header (not lines: pandas skips blank ones).
    for row, (vid, split) in enumerate(zip(table["video_id"], table["split"]), start=1):
        if pd.isna(vid):
            raise DatasetFolderError(f"{path}: row {row}: column 'video_id' is empty")
        if vid in seen:
            raise DatasetFolderError(f"{path}: row {row}: video {vid!r} is listed twice")
        seen.add(vid)
        if vid not in ground_truth.videos.index:
            raise DatasetFolderError(f"{path}: row {row}: video {vid!r} is not in {path.with_name('ground_truth.json')}")
        if split not in SPLITS:
            raise DatasetFolderError(f"{path}: row {row}: video {vid!r}: column 'split': unknown split "
                                     f"{split!r}; expected one of {SPLITS}")
    return table.set_index("video_id")


def dataset_fingerprint(folder: str | os.PathLike) -> str:
    """A digest of a dataset folder's contents (its four files; an absent file hashes as absent)."""
    folder = Path(folder)
    return files_fingerprint([folder / name for name in DATASET_FILES], folder)
