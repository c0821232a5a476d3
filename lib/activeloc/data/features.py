"""Snippet-level video features behind one interface, and segment features by average pooling.

Three backends share :class:`FeatureStore`:

* :class:`InMemoryFeatureStore`: a dict of ``video_id -> (T, D)`` arrays;
* :class:`HDF5FeatureStore`: the official ActivityNet C3D layout, one group ``v_<id>`` per video
  holding dataset ``c3d_features`` (``T x D``);
* :class:`NpyFolderFeatureStore`: a folder of ``<video_id>.npy`` (or ``v_<video_id>.npy``).

Video ids are file and group names here, so every id read or written must be safe as one
(:func:`~activeloc.core.ids.check_video_id`): none reaches outside its folder.

Snippet times. Snippet ``i`` covers frames ``[i * stride, i * stride + window)``; the ``T``
snippets span the video, so a frame lasts ``duration / ((T - 1) * stride + window)`` seconds.
The official C3D release has ``window=16, stride=8``; stores written by this package record their
own values as HDF5 attributes.

Pooling. A segment ``[t0, t1]`` covers the snippets whose centre lies inside it (the nearest
snippet if none does); its feature is their mean, computed from per-video prefix sums, so each
segment costs O(D) whatever its length.
"""

from __future__ import annotations

import numbers
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from ..core.errors import InputError, one_line
from ..core.ids import check_video_id
from ..core.io import atomic_path

C3D_DATASET = "c3d_features"
# What h5py raises on a file that is truncated or corrupt, depending on which structure is damaged.
_H5PY_READ_ERRORS = (OSError, KeyError, RuntimeError)


class FeatureError(InputError, LookupError):
    """Missing or malformed features; names the store and the video."""


def _positive_integer(value) -> int | None:
    """``value`` as a positive int (from an int, a whole float, a one-element array or a string of
    digits, as HDF5 attributes may hold it), or None if it is not one."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (str, bytes)):
        try:
            value = int(value)
        except ValueError:
            return None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(value).is_integer():
        value = int(value)
    return int(value) if isinstance(value, numbers.Integral) and value > 0 else None


def _ids_of(names, where: str, suffix: str = "") -> dict[str, str]:
    """``video_id -> name`` for names ``<id><suffix>`` or ``v_<id><suffix>``; both forms of one id are an
    error, since either would silently shadow the other, and so is an id unsafe as a file name."""
    ids = {}
    for name in names:
        vid = name[: len(name) - len(suffix)]
        vid = check_video_id(vid[2:] if vid.startswith("v_") else vid, where)
        if vid in ids:
            raise FeatureError(f"{where}: video {vid!r}: both {ids[vid]!r} and {name!r} are present; keep one")
        ids[vid] = name
    return ids


def snippet_bounds(n_snippets: int, duration: float, window: int = 16, stride: int = 8) -> np.ndarray:
    """``(T, 2)`` start and end seconds of each snippet of a video."""
    if n_snippets <= 0:
        return np.zeros((0, 2))
    seconds_per_frame = duration / ((n_snippets - 1) * stride + window)
    start = np.arange(n_snippets) * stride * seconds_per_frame
    return np.column_stack([start, start + window * seconds_per_frame])


class FeatureStore(ABC):
    """Snippet features of videos, with pooled segment features.

    ``durations`` maps video ids to seconds (a dict or a pandas Series); it fixes snippet times.
    ``cache_size`` bounds how many videos' prefix sums are kept in memory.
    """

    def __init__(self, durations: Mapping[str, float], *, window: int = 16, stride: int = 8,
                 cache_size: int = 512):
        self.durations = durations
        checked = {}
        for name, value in (("window", window), ("stride", stride)):
            checked[name] = _positive_integer(value)
            if checked[name] is None:
                raise FeatureError(f"{self.source}: {name} must be a positive integer, got {value!r}")
        self.window, self.stride = checked["window"], checked["stride"]
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._width: tuple[str, int] | None = None  # (video, D) of the first video read

    @property
    @abstractmethod
    def video_ids(self) -> list[str]:
        """Videos that have features."""

    @abstractmethod
    def _load(self, video_id: str) -> np.ndarray | None:
        """The ``(T, D)`` array of one video, or None when the store has none."""

    @property
    def source(self) -> str:
        return type(self).__name__

    def __contains__(self, video_id: str) -> bool:
        return video_id in set(self.video_ids)

    def __len__(self) -> int:
        return len(self.video_ids)

    def _where(self, video_id) -> str:
        # str() first: the repr of a numpy string is np.str_('...'), not the plain id.
        return f"{self.source}: video {str(video_id)!r}"

    @property
    def feature_dim(self) -> int:
        ids = self.video_ids
        if not ids:
            raise FeatureError(f"{self.source}: the store holds no videos")
        return self.snippets(ids[0]).shape[1]

    def snippets(self, video_id: str) -> np.ndarray:
        """The ``(T, D)`` snippet features of ``video_id``."""
        feats = self._load(video_id)
        if feats is None:
            raise FeatureError(f"{self._where(video_id)}: no features")
        feats = np.asarray(feats)
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise FeatureError(
                f"{self._where(video_id)}: features must be a non-empty T x D array, got shape {feats.shape}"
            )
        # Complex would lose its imaginary part and bool or text mean nothing as features: refused.
        if feats.dtype.kind not in "iuf":
            raise FeatureError(f"{self._where(video_id)}: features must be real numbers, got dtype {feats.dtype}")
        if feats.dtype.kind != "f":
            feats = feats.astype(float)
        if not np.isfinite(feats).all():
            raise FeatureError(f"{self._where(video_id)}: features contain NaN or infinity")
        # Checked against the first video read only, so that it costs nothing per video.
        if self._width is None:
            self._width = (str(video_id), feats.shape[1])
        elif feats.shape[1] != self._width[1]:
            first, width = self._width
            raise FeatureError(f"{self._where(video_id)}: features are {feats.shape[1]} wide, "
                               f"but those of video {first!r} are {width} wide")
        return feats

    def duration(self, video_id: str) -> float:
        try:
            return float(self.durations[video_id])
        except KeyError:
            raise FeatureError(f"{self._where(video_id)}: no duration known") from None

    def snippet_bounds(self, video_id: str) -> np.ndarray:
        return snippet_bounds(len(self.snippets(video_id)), self.duration(video_id), self.window, self.stride)

    def _prefix(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        if video_id in self._cache:
            self._cache.move_to_end(video_id)
            return self._cache[video_id]
        feats = self.snippets(video_id)
        prefix = np.zeros((feats.shape[0] + 1, feats.shape[1]))
        np.cumsum(feats, axis=0, out=prefix[1:])
        bounds = snippet_bounds(len(feats), self.duration(video_id), self.window, self.stride)
        entry = (prefix, bounds.mean(axis=1))
        self._cache[video_id] = entry
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return entry

    def segment_features(self, video_id: str, segments) -> np.ndarray:
        """``(n, D)`` mean snippet feature of each ``[t_start, t_end]`` row of ``segments``."""
        prefix, centres = self._prefix(video_id)
        seg = np.asarray(segments, dtype=float).reshape(-1, 2)
        lo = np.searchsorted(centres, seg[:, 0], side="left")
        hi = np.searchsorted(centres, seg[:, 1], side="right")
        empty = hi <= lo
        if empty.any():
            # No centre inside: take the snippet nearest to the segment's midpoint.
            mid = seg[empty].mean(axis=1)
            right = np.clip(np.searchsorted(centres, mid), 0, len(centres) - 1)
            left = np.clip(right - 1, 0, None)
            nearest = np.where(np.abs(centres[left] - mid) <= np.abs(centres[right] - mid), left, right)
            lo[empty], hi[empty] = nearest, nearest + 1
        return (prefix[hi] - prefix[lo]) / (hi - lo)[:, None]


class InMemoryFeatureStore(FeatureStore):
    """Features held in a dict ``video_id -> (T, D)`` array."""

    def __init__(self, features: Mapping[str, np.ndarray], durations: Mapping[str, float], **kwargs):
        super().__init__(durations, **kwargs)
        self.features = features

    @property
    def video_ids(self) -> list[str]:
        return list(self.features)

    def _load(self, video_id: str):
        return self.features.get(video_id)


class HDF5FeatureStore(FeatureStore):
    """The official ActivityNet C3D layout: group ``v_<id>`` (or ``<id>``) with dataset ``c3d_features``.

    ``window`` and ``stride`` default to the file's attributes of those names, else to C3D's 16 and 8.
    """

    def __init__(self, path: str | os.PathLike, durations: Mapping[str, float], *,
                 window: int | None = None, stride: int | None = None, dataset: str = C3D_DATASET, **kwargs):
        self.path = Path(path)
        if not self.path.exists():
            raise FeatureError(f"{self.path}: feature file not found")
        self.dataset = dataset
        self._file = self._open()
        try:
            window = self._attribute("window", 16) if window is None else window
            stride = self._attribute("stride", 8) if stride is None else stride
            self._groups = _ids_of(self._file, str(self.path))
            super().__init__(durations, window=window, stride=stride, **kwargs)
        except _H5PY_READ_ERRORS as exc:
            self._file.close()
            raise FeatureError(f"{self.path}: corrupt HDF5 file ({one_line(exc)})") from None
        except InputError:
            self._file.close()
            raise

    def _open(self) -> h5py.File:
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:  # h5py's word for a file that is not HDF5, truncated or corrupt
            raise FeatureError(f"{self.path}: not a readable HDF5 file ({one_line(exc)})") from None

    def _attribute(self, name: str, default: int) -> int:
        value = self._file.attrs.get(name, default)
        checked = _positive_integer(value)
        if checked is None:
            raise FeatureError(f"{self.path}: attribute {name!r} must be a positive integer, got {value!r}")
        return checked

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def video_ids(self) -> list[str]:
        return list(self._groups)

    def _load(self, video_id: str):
        name = self._groups.get(video_id)
        if name is None:
            return None
        # h5py reads lazily, so a truncated or corrupt file may only fail here.
        try:
            group = self._file[name]
            if not isinstance(group, h5py.Group):
                raise FeatureError(f"{self._where(video_id)}: {name!r} is a dataset, not a group holding "
                                   f"dataset {self.dataset!r}")
            if self.dataset in group:
                return group[self.dataset][()]
        except _H5PY_READ_ERRORS as exc:
            raise FeatureError(f"{self._where(video_id)}: corrupt HDF5 data ({one_line(exc)})") from None
        raise FeatureError(f"{self._where(video_id)}: group {name!r} has no dataset {self.dataset!r}")

    def close(self) -> None:
        self._file.close()

    # Pickled by path, so that parallel workers (joblib, Dask) reopen the file instead of failing on its handle.
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_file"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._file = self._open()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NpyFolderFeatureStore(FeatureStore):
    """A folder of ``<video_id>.npy`` (or ``v_<video_id>.npy``) files, each ``T x D``."""

    def __init__(self, folder: str | os.PathLike, durations: Mapping[str, float], **kwargs):
        self.folder = Path(folder)
        super().__init__(durations, **kwargs)
        if not self.folder.is_dir():
            raise FeatureError(f"{self.folder}: feature folder not found")
        names = _ids_of([path.name for path in sorted(self.folder.glob("*.npy"))], str(self.folder), ".npy")
        self._files = {vid: self.folder / name for vid, name in names.items()}

    @property
    def source(self) -> str:
        return str(self.folder)

    @property
    def video_ids(self) -> list[str]:
        return list(self._files)

    def _where(self, video_id) -> str:
        # A video's own file, not only the folder: that is the file to fix.
        path = self._files.get(video_id)
        return super()._where(video_id) if path is None else f"{path}: video {str(video_id)!r}"

    def _load(self, video_id: str):
        path = self._files.get(video_id)
        if path is None:
            return None
        try:
            return np.load(path)
        except (OSError, ValueError, EOFError) as exc:  # what numpy raises on a truncated or foreign file
            raise FeatureError(f"{self._where(video_id)}: not a readable .npy file ({one_line(exc)})") from None


def write_hdf5_features(store: FeatureStore, path: str | os.PathLike, video_ids: Iterable[str] | None = None,
                        *, dtype="float32") -> None:
    """Write a store's features in the official C3D layout (with ``window``/``stride`` attributes),
    atomically; an id unsafe as a name refuses the whole file before anything is written."""
    ids = [check_video_id(vid, path) for vid in (store.video_ids if video_ids is None else video_ids)]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        out.attrs["window"] = store.window
        out.attrs["stride"] = store.stride
        for vid in ids:
            out.create_group(f"v_{vid}").create_dataset(C3D_DATASET, data=store.snippets(vid).astype(dtype))


def write_npy_folder(store: FeatureStore, folder: str | os.PathLike, video_ids: Iterable[str] | None = None) -> None:
    """Write one ``<video_id>.npy`` per video, each atomically; an id unsafe as a file name refuses
    them all before anything is written. An id that starts with ``v_`` is written ``v_<video_id>.npy``,
    since readers take ``v_`` for the C3D prefix (two ActivityNet ids start with it)."""
    folder = Path(folder)
    ids = [check_video_id(vid, folder) for vid in (store.video_ids if video_ids is None else video_ids)]
    folder.mkdir(parents=True, exist_ok=True)
    for vid in ids:
        with atomic_path(folder / f"{'v_' if vid.startswith('v_') else ''}{vid}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, store.snippets(vid))
