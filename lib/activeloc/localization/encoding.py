"""Encoded candidate segments: every candidate of every video with its pooled feature vector.

:class:`SegmentEncoder` turns a segment into a feature vector (the paper's video encoder, with a
contrast against the segment's flanks). :class:`CandidateMatrix` stacks the candidate segments of
many videos with their encoded features in one contiguous float32 matrix, so that refitting the
localizer after a batch of new labels never pools features again: it only gathers rows.
:func:`candidate_matrix` builds it once per set of videos (for every video of the set first made,
shared by its subsets) and per (proposal source, encoder). The matrix is a deterministic function
of the features; nothing fitted (no standardisation) is kept in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..core.timing import in_worker_process
from ..data.dataset import VideoSet
from ..data.features import FeatureStore
from .segments import grouped_ranking, segment_iou


class CandidateError(InputError, LookupError):
    """A video has no candidate segments."""


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


class CandidateMatrix:
    """Candidate segments of many videos with their encoded features.

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
        self._moments = None

    @classmethod
    def build(cls, store: FeatureStore, proposals, video_ids, encoder: SegmentEncoder = SegmentEncoder(), *,
              progress: bool | None = None) -> CandidateMatrix:
        """Candidates of ``proposals`` for ``video_ids``, encoded from ``store`` by ``encoder``.

        Videos without candidates (zero duration, no proposals) are left out and remembered, so
        that asking for them later names the reason. ``progress``: a progress bar (None: except
        in worker processes).
        """
        if progress is None:
            progress = not in_worker_process()
        kept, segs, without = [], [], {}
        for vid in video_ids:
            seg = proposals.segments(vid, store.duration(vid))
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

    def positions(self, video_ids) -> np.ndarray:
        """Each video's position in the matrix; a video without candidates is an error naming why."""
        missing = [v for v in video_ids if v not in self.position]
        if missing:
            vid = missing[0]
            reason = self.without_candidates.get(vid, "not in the candidate set (no features?)")
            raise CandidateError(f"video {str(vid)!r}: {reason}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return np.array([self.position[v] for v in video_ids], dtype=np.int64)

    def rows(self, video_ids) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the candidates of ``video_ids`` and, per row, the position in ``video_ids``."""
        pos = self.positions(video_ids)
        starts, ends = self.offsets[pos], self.offsets[pos + 1]
        counts = ends - starts
        owner = np.repeat(np.arange(len(pos)), counts)
        rows = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return rows, owner

    def moments(self, video_ids) -> tuple[int, np.ndarray, np.ndarray]:
        """Number of candidates of ``video_ids`` and the sum and sum of squares of their features
        (float64). Per-video sums are computed once, in chunks, so that a standardisation over any
        set of videos costs O(videos x D), not O(candidates x D)."""
        if self._moments is None:
            # Blocks of videos, so that no temporary is more than a sliver of the (large) matrix.
            shape = (len(self.video_ids), self.features.shape[1])
            sums, squares = np.zeros(shape), np.zeros(shape)
            for lo in range(0, len(self.video_ids), 256):
                hi = min(lo + 256, len(self.video_ids))
                block = self.features[self.offsets[lo]:self.offsets[hi]]
                starts = self.offsets[lo:hi] - self.offsets[lo]
                # float32 within a video (about a hundred rows), float64 across videos.
                sums[lo:hi] = np.add.reduceat(block, starts, axis=0)
                squares[lo:hi] = np.add.reduceat(np.square(block), starts, axis=0)
            self._moments = (np.diff(self.offsets), sums, squares)
        counts, sums, squares = self._moments
        pos = self.positions(video_ids)
        return int(counts[pos].sum()), sums[pos].sum(axis=0), squares[pos].sum(axis=0)

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
        # Pair every truth with every candidate of its video (truth by truth, so pairs of one
        # candidate come in truth order).
        starts = np.searchsorted(owner, inst_owner, side="left")
        counts = np.searchsorted(owner, inst_owner, side="right") - starts
        pair_truth = np.repeat(np.arange(len(inst)), counts)
        pair_pos = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        truth = inst[["t_start", "t_end"]].to_numpy(dtype=float)[pair_truth]
        iou = segment_iou(self.segments[rows[pair_pos]], truth)
        # Best truth per candidate: highest tIoU, first truth on ties.
        order, rank = grouped_ranking(pair_pos, iou)
        first = order[rank == 0]
        best[pair_pos[first]] = iou[first]
        cls[pair_pos[first]] = pd.Index(labels).get_indexer(inst["label"].to_numpy()[pair_truth[first]])
        return rows, owner, best, cls


def candidate_matrix(videos: VideoSet, proposals, encoder: SegmentEncoder) -> CandidateMatrix:
    """The encoded candidates of ``proposals`` for every video that ``videos`` shares derived data
    with, built once (checking first that every one of them has features)."""
    def build(universe):
        have = set(videos.features.video_ids)
        missing = [v for v in universe if v not in have]
        if missing:
            raise CandidateError(f"video {str(missing[0])!r}: no features in {videos.features.source}"
                                 + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return CandidateMatrix.build(videos.features, proposals, universe, encoder)

    return videos.derived.get(("candidates", proposals, encoder), build)
