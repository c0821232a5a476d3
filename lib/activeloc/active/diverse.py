"""Diversity-aware batches: any selector's utility traded against redundancy (ranked batch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .base import SELECTION_COLUMNS, WrappingSelector, batch_length, empty_selection, per_cost

DIVERSE = "-diverse"


def video_features(videos) -> np.ndarray:
    """``(videos, D)``: each video's mean snippet feature, rows in ``videos.video_ids`` order
    (computed once for every video the set shares derived data with)."""
    def build(universe):
        rows = [videos.features.snippets(v).mean(axis=0) for v in universe]
        return {"index": {v: i for i, v in enumerate(universe)}, "features": np.asarray(rows, dtype=np.float64)}

    table = videos.derived.get(("video mean features",), build)
    return table["features"][np.array([table["index"][v] for v in videos.video_ids], dtype=np.intp)]


def nearest_distances(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Each row of ``a``'s Euclidean distance to its nearest row of ``b`` (inf if ``b`` is empty), by
    blocks of ``chunk`` rows of ``b`` (a pool against a labelled set of ten thousand videos would
    otherwise hold gigabytes)."""
    a_norms = (a * a).sum(axis=1)
    nearest = np.full(len(a), np.inf)
    for start in range(0, len(b), chunk):
        block = b[start:start + chunk]
        squared = a_norms[:, None] + (block * block).sum(axis=1)[None, :] - 2 * a @ block.T
        nearest = np.minimum(nearest, squared.min(axis=1))
    return np.sqrt(np.maximum(nearest, 0))


class DiverseSelector(WrappingSelector):
    """Ranked batch (Cardoso et al., Information Sciences 2017; modAL's ``ranked_batch``) around ``selector``.

    With ``x_v`` a video's mean snippet feature (:func:`video_features`), ``L`` the labelled
    videos and ``S`` those already picked for this batch, a pool video's redundancy is its
    similarity to the nearest of them,

        redundancy(v) = 1 / (1 + min_{s in L + S} ||x_v - x_s|| / h)

    (Cardoso's similarity ``1 / (1 + distance)``, distances in units of ``h``, the median over the
    pool of the distance to the nearest labelled video, so that the rule does not depend on the
    features' scale; ``h = 1`` if that is 0 or there is no labelled video). Picks are made one at a
    time by

        score(v) = [w u(v) / m + (1 - w) (1 - redundancy(v))] / cost(v)

    with ``u`` the wrapped selector's :meth:`utilities` (the pool's, before any pick), ``m`` the
    largest ``|u|`` over the pool (1 if all are 0), ``w = utility_weight`` and ``cost`` the
    per-video cost when given (else 1); after each pick the redundancies are updated with it.
    Dividing ``u`` by ``m`` puts it on the diversity term's scale while keeping its zero and
    ratios, so ``w = 1`` is the wrapped selector's top-k by utility (per cost), the same videos in
    the same order for a seed; ``w = 0`` is diversity alone (greedy farthest-first from the
    labelled set, a k-center greedy with Cardoso's similarity). Unlike Cardoso, whose weight is the
    pool's share of all videos, ``w`` is fixed. A selector whose own batch mode updates its state
    per pick (MCLE's label equality) is reduced to its utilities: the redundancy term takes that
    role. Reported utilities are the scores at the moment of each pick (non-increasing);
    :meth:`explain` gives each pick's ``base_utility`` and ``redundancy`` too.
    """

    suffix = DIVERSE

    def __init__(self, selector, utility_weight: float = 0.5):
        self.selector = selector
        self.utility_weight = utility_weight

    def _check(self) -> float:
        w = float(self.utility_weight)
        if not 0 <= w <= 1:
            raise ValueError(f"utility_weight must be in [0, 1], got {self.utility_weight}")
        return w

    def _terms(self, localizer, labelled, pool, rng):
        """The wrapped selector's utilities, each pool video's distance to the nearest labelled
        video, the distance unit ``h``, and the pool's features."""
        utility = np.asarray(self.selector.utilities(localizer, labelled, pool, random_state=rng), dtype=float)
        features = video_features(pool)
        known = video_features(labelled) if labelled is not None else np.zeros((0, features.shape[1]))
        nearest = nearest_distances(features, known)
        unit = float(np.median(nearest)) if np.isfinite(nearest).any() else 0.0
        return utility, nearest, unit if np.isfinite(unit) and unit > 0 else 1.0, features

    def _score(self, utility, nearest, unit, w):
        scale = np.abs(utility).max() if len(utility) else 0.0
        scale = scale if scale > 0 else 1.0
        redundancy = 1 / (1 + nearest / unit)
        return w * utility / scale + (1 - w) * (1 - redundancy), redundancy

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        w = self._check()
        if not pool.video_ids:
            return np.zeros(0)
        utility, nearest, unit, _ = self._terms(localizer, labelled, pool, check_random_state(random_state))
        return self._score(utility, nearest, unit, w)[0]

    def _picks(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        """The picks with each one's ``base_utility`` and ``redundancy`` when it was picked."""
        w = self._check()
        n = batch_length(batch_size, pool)
        if n == 0:
            return empty_selection().assign(base_utility=pd.Series(dtype=float), redundancy=pd.Series(dtype=float))
        rng = check_random_state(random_state)
        utility, nearest, unit, features = self._terms(localizer, labelled, pool, rng)
        tie_break = rng.random_sample(len(utility))  # drawn as the default select draws it, so w = 1 is its top-k
        available = np.ones(len(utility), dtype=bool)
        picks, scores, redundancies = [], [], []
        for _ in range(n):
            score, redundancy = self._score(utility, nearest, unit, w)
            score = np.where(available, per_cost(score, cost), -np.inf)
            tied = np.flatnonzero(score == score.max())
            best = tied[np.argmin(tie_break[tied])]
            picks.append(best)
            scores.append(score[best])
            redundancies.append(redundancy[best])
            available[best] = False
            # One row against the pool: by differences (a matrix-vector product costs more here).
            nearest = np.minimum(nearest, np.sqrt(((features - features[best]) ** 2).sum(axis=1)))
        ids = np.asarray(pool.video_ids, dtype=object)
        return pd.DataFrame({"video_id": ids[picks], "utility": scores, "rank": np.arange(n),
                             "base_utility": utility[picks], "redundancy": redundancies})

    def explain(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        """:meth:`select`'s picks with, for each, the wrapped selector's utility (``base_utility``),
        its ``redundancy`` at the moment it was picked, and the wrapped selector's :meth:`evidence`."""
        picks = self._picks(localizer, labelled, pool, batch_size, random_state, cost)
        return picks.join(self.selector.evidence(localizer, labelled, pool), on="video_id")

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        return self._picks(localizer, labelled, pool, batch_size, random_state, cost)[SELECTION_COLUMNS]
