"""Sufficient statistics of labelled candidates, from which the exact stages are fitted in closed form.

Every candidate of a labelled video falls in one group by its best tIoU with a truth of its
video: ``positive`` (above the positive threshold), ``negative`` (below the negative one) or
``ambiguous`` (in between). Per group: the number of candidates and the sum and Gram matrix
(``sum x x^T``) of their raw features, in float64; per class, the number and feature sum of its
positives. All of it is a sum over videos, so adding a batch of videos to the statistics of a
labelled set gives those of the union (to float64 rounding, whatever the order), and a refit after
a batch costs the batch's Gram matrices plus a solve in the feature dimension: nothing that grows
with the labelled set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .encoding import CandidateMatrix

GROUPS = ("positive", "negative", "ambiguous")
# Rows per block when forming Gram matrices: large enough for BLAS to run at full speed, small
# enough that the float64 copy of a block stays a few tens of megabytes.
BLOCK_ROWS = 16_384


@dataclass
class Moments:
    """Count, sum and Gram matrix of a set of feature rows (float64)."""

    n: int
    sum: np.ndarray
    gram: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> Moments:
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    def add(self, x: np.ndarray) -> None:
        for lo in range(0, len(x), BLOCK_ROWS):
            block = x[lo:lo + BLOCK_ROWS].astype(np.float64)
            self.n += len(block)
            self.sum += block.sum(axis=0)
            self.gram += block.T @ block

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.sum + other.sum, self.gram + other.gram)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def scatter(self) -> np.ndarray:
        """``sum (x - mean)(x - mean)^T``."""
        return self.gram - self.n * np.outer(self.mean, self.mean)


@dataclass
class CandidateStatistics:
    """The statistics of a set of labelled videos (see the module docstring).

    ``fingerprints``: per video, a digest of its annotations, so that a refit can tell whether the
    videos it already holds still carry the same labels (a video re-annotated means starting over).
    """

    dim: int
    positive_tiou: float
    negative_tiou: float
    groups: dict = field(default_factory=dict)
    class_count: dict = field(default_factory=dict)
    class_sum: dict = field(default_factory=dict)
    fingerprints: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.uint64))

    def __post_init__(self):
        for group in GROUPS:
            self.groups.setdefault(group, Moments.empty(self.dim))

    def add(self, cm: CandidateMatrix, video_ids, instances: pd.DataFrame, fingerprints: pd.Series) -> None:
        """Add the candidates of ``video_ids`` (labelled by ``instances``) to the statistics."""
        labels = np.array(sorted(instances["label"].unique()))
        rows, _, best, cls = cm.overlaps(list(video_ids), instances, labels)
        masks = {"positive": best > self.positive_tiou, "negative": best < self.negative_tiou}
        masks["ambiguous"] = ~(masks["positive"] | masks["negative"])
        for group, mask in masks.items():
            self.groups[group].add(cm.features[rows[mask]])
        positive_rows, positive_cls = rows[masks["positive"]], cls[masks["positive"]]
        for index in np.unique(positive_cls):
            of_class = cm.features[positive_rows[positive_cls == index]].astype(np.float64)
            label = labels[index]
            self.class_count[label] = self.class_count.get(label, 0) + len(of_class)
            self.class_sum[label] = self.class_sum.get(label, 0.0) + of_class.sum(axis=0)
        self.fingerprints = pd.concat([self.fingerprints, fingerprints.loc[list(video_ids)]])

    def holds(self, fingerprints: pd.Series) -> bool:
        """Whether every video these statistics hold is among ``fingerprints`` with the same annotations."""
        held = self.fingerprints
        where = fingerprints.index.get_indexer(held.index)
        return bool((where >= 0).all() and (fingerprints.to_numpy()[where] == held.to_numpy()).all())

    @property
    def all(self) -> Moments:
        return self.groups["positive"] + self.groups["negative"] + self.groups["ambiguous"]


def annotation_fingerprints(video_ids, instances: pd.DataFrame) -> pd.Series:
    """Per video, a 64-bit digest of its instances (order-free: a wrapping sum of row hashes;
    0 for a video without any)."""
    ids = pd.Index(list(video_ids), dtype=object)
    hashes = pd.util.hash_pandas_object(instances[["video_id", "t_start", "t_end", "label"]], index=False).to_numpy()
    owner = ids.get_indexer(instances["video_id"].to_numpy(dtype=object))
    digest = np.zeros(len(ids), dtype=np.uint64)
    np.add.at(digest, owner[owner >= 0], hashes[owner >= 0])  # uint64 wraps around: a sum modulo 2**64
    return pd.Series(digest, index=ids)
