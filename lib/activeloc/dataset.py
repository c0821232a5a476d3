"""A dataset as the localizer and the loop see it: annotations, features, and cached candidates.

:class:`Dataset` bundles a :class:`GroundTruth`, a feature store and the videos in play.
:class:`CandidateSet` computes every video's candidate segments and their pooled features once,
in one contiguous float32 matrix, so that refitting the localizer after a batch of new labels
never pools features again: it only gathers rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .annotations import GroundTruth, read_ground_truth
from .features import FeatureStore, HDF5FeatureStore


class CandidateError(LookupError):
    """A video has no candidate segments."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class SegmentEncoder:
    """The video encoder: a segment's average-pooled features, contrasted with its surroundings.

    ``feature = inside - context_weight * flanks``, where ``inside`` averages the snippets in the
    segment and ``flanks`` those in the ``flank * length`` seconds before and after it (one side
    if the other is outside the video, the whole video's mean if both are). Without the contrast
    a window inside a long action looks exactly like the whole action, and a linear attention
    module cannot prefer the window with the right boundaries; ``context_weight=0`` gives plain
    average pooling as in the paper. Three geometry columns follow: the segment's share of the
    video, and whether it touches the start and the end.
    """

    context_weight: float = 0.5
    flank: float = 0.5

    def encode(self, store: FeatureStore, video_id: str, segments: np.ndarray) -> np.ndarray:
        inside = store.segment_features(video_id, segments)
        duration = store.duration(video_id)
        length = segments[:, 1] - segments[:, 0]
        eps = 1e-6 * max(duration, 1.0)
        if self.context_weight:
            left = np.column_stack([np.maximum(segments[:, 0] - self.flank * length, 0), segments[:, 0]])
            right = np.column_stack([segments[:, 1], np.minimum(segments[:, 1] + self.flank * length, duration)])
            has_left = (left[:, 1] - left[:, 0]) > eps
            has_right = (right[:, 1] - right[:, 0]) > eps
            n = has_left.astype(float) + has_right
            flanks = (store.segment_features(video_id, left) * has_left[:, None]
                      + store.segment_features(video_id, right) * has_right[:, None]) / np.maximum(n, 1)[:, None]
            whole = store.segment_features(video_id, [[0.0, duration]])
            inside = inside - self.context_weight * np.where(n[:, None] > 0, flanks, whole)
        geometry = np.column_stack([length / max(duration, eps), segments[:, 0] <= eps, segments[:, 1] >= duration - eps])
        return np.hstack([inside, geometry]).astype(np.float32)


class CandidateSet:
    """Candidate segments of many videos with their pooled features.

    ``segments`` ``(N, 2)`` and ``features`` ``(N, D)`` (float32) stack all candidates; rows
    ``offsets[i]:offsets[i + 1]`` belong to ``video_ids[i]``.
    """

    def __init__(self, video_ids, segments: np.ndarray, features: np.ndarray, offsets: np.ndarray,
                 without_candidates: dict[str, str] | None = None):
        self.video_ids = list(video_ids)
        self.segments = segments
        self.features = features
        self.offsets = offsets
        self.without_candidates = without_candidates or {}
        self.position = {vid: i for i, vid in enumerate(self.video_ids)}

    @classmethod
    def build(cls, store: FeatureStore, generator, video_ids, encoder: SegmentEncoder = SegmentEncoder(), *,
              progress: bool = True) -> CandidateSet:
        """Candidates of ``generator`` for ``video_ids``, encoded from ``store`` by ``encoder``.

        Videos without candidates (zero duration, no proposals) are left out and remembered, so
        that asking for them later names the reason.
        """
        kept, segs, without = [], [], {}
        for vid in video_ids:
            seg = generator.candidates(vid, store.duration(vid))
            if len(seg) == 0:
                without[vid] = f"no candidate segments (duration {store.duration(vid)} s)"
                continue
            kept.append(vid)
            segs.append(seg)
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in segs], dtype=np.int64)])
        # Filled in place: the matrix is the largest object of a run, so it must not exist twice.
        features = None
        for i, vid in enumerate(tqdm(kept, desc="candidates", unit="video", disable=not progress, leave=False)):
            encoded = encoder.encode(store, vid, segs[i])
            if features is None:
                features = np.empty((offsets[-1], encoded.shape[1]), dtype=np.float32)
            features[offsets[i]:offsets[i + 1]] = encoded
        if features is None:
            features = np.zeros((0, 0), np.float32)
        return cls(kept, np.concatenate(segs) if segs else np.zeros((0, 2)), features, offsets, without)

    def __len__(self) -> int:
        return len(self.video_ids)

    def __contains__(self, video_id) -> bool:
        return video_id in self.position

    def rows(self, video_ids) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the candidates of ``video_ids`` and, per row, the position in ``video_ids``."""
        missing = [v for v in video_ids if v not in self.position]
        if missing:
            vid = missing[0]
            reason = self.without_candidates.get(vid, "not in the candidate set (no features?)")
            raise CandidateError(f"video {vid!r}: {reason}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        pos = np.array([self.position[v] for v in video_ids], dtype=np.int64)
        starts, ends = self.offsets[pos], self.offsets[pos + 1]
        counts = ends - starts
        owner = np.repeat(np.arange(len(pos)), counts)
        rows = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return rows, owner

    def overlaps(self, video_ids, instances: pd.DataFrame, labels):
        """For the candidates of ``video_ids``: rows and owners (as :meth:`rows`), best tIoU with any
        truth, and that truth's class index.

        ``labels`` fixes the class indices (-1 where a video has no truth). Vectorised over all
        (candidate, truth of the same video) pairs at once.
        """
        rows, owner = self.rows(video_ids)
        best = np.zeros(len(rows))
        cls = np.full(len(rows), -1, dtype=np.int64)
        inst_owner = pd.Index(video_ids).get_indexer(instances["video_id"])
        inst = instances[inst_owner >= 0]
        inst_owner = inst_owner[inst_owner >= 0]
        if len(inst) == 0:
            return rows, owner, best, cls
        # Pair every truth with every candidate of its video.
        starts = np.searchsorted(owner, inst_owner, side="left")
        counts = np.searchsorted(owner, inst_owner, side="right") - starts
        pair_truth = np.repeat(np.arange(len(inst)), counts)
        pair_pos = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        seg = self.segments[rows[pair_pos]]
        truth = inst[["t_start", "t_end"]].to_numpy(dtype=float)[pair_truth]
        inter = np.clip(np.minimum(seg[:, 1], truth[:, 1]) - np.maximum(seg[:, 0], truth[:, 0]), 0, None)
        union = (seg[:, 1] - seg[:, 0]) + (truth[:, 1] - truth[:, 0]) - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        # Best truth per candidate: highest tIoU, first truth on ties.
        order = np.lexsort((pair_truth, -iou, pair_pos))
        first = order[np.r_[True, pair_pos[order][1:] != pair_pos[order][:-1]]]
        best[pair_pos[first]] = iou[first]
        cls[pair_pos[first]] = pd.Index(labels).get_indexer(inst["label"].to_numpy()[pair_truth[first]])
        return rows, owner, best, cls


@dataclass
class Dataset:
    """Annotations, features and the videos in play (all annotated videos of ``ground_truth`` by default).

    ``splits``, when given, is the table from :func:`activeloc.splits.make_splits`.
    """

    ground_truth: GroundTruth
    features: FeatureStore
    video_ids: list[str] | None = None
    splits: pd.DataFrame | None = None
    _candidates: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.video_ids is None:
            self.video_ids = list(self.ground_truth.videos.index)
        self.video_ids = list(self.video_ids)
        if self._candidates is None:
            # Shared by every subset: candidates are built once for the videos of the dataset first made.
            self._candidates = {"universe": list(self.video_ids)}

    @property
    def instances(self) -> pd.DataFrame:
        inst = self.ground_truth.instances
        return inst[inst["video_id"].isin(self.video_ids)]

    def subset(self, video_ids, ground_truth: GroundTruth | None = None) -> Dataset:
        """The same data restricted to ``video_ids``, sharing the candidate cache.

        ``ground_truth`` replaces the annotations (e.g. those an oracle returned).
        """
        return Dataset(ground_truth or self.ground_truth, self.features, list(video_ids), self.splits,
                       self._candidates)

    def split(self, name: str) -> Dataset:
        if self.splits is None:
            raise ValueError("this dataset has no splits")
        return self.subset(self.splits.index[self.splits["split"] == name])

    def candidates(self, generator, encoder: SegmentEncoder = SegmentEncoder()) -> CandidateSet:
        """The candidate set of ``generator`` and ``encoder`` over the videos of the dataset that
        its subsets come from, built once and cached."""
        key = (generator if _hashable(generator) else id(generator), encoder)
        if key not in self._candidates:
            have = set(self.features.video_ids)
            universe = self._candidates["universe"]
            missing = [v for v in universe if v not in have]
            if missing:
                raise CandidateError(f"video {missing[0]!r}: no features in {self.features.source}"
                                     + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            self._candidates[key] = CandidateSet.build(self.features, generator, universe, encoder)
        return self._candidates[key]


def _hashable(obj) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def load_dataset(folder: str | Path) -> Dataset:
    """Read what ``01-dataset`` writes: ``ground_truth.json``, ``splits.csv``, ``features.h5``."""
    folder = Path(folder)
    gt = read_ground_truth(folder / "ground_truth.json")
    splits = pd.read_csv(folder / "splits.csv", dtype={"video_id": str}).set_index("video_id")
    store = HDF5FeatureStore(folder / "features.h5", gt.durations().to_dict())
    return Dataset(gt, store, list(splits.index), splits)
