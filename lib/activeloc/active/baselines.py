"""The baseline selectors of the paper: Random and Uncertainty Sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .base import Selector, strongest_segments
from .histograms import entropies, video_histograms


class RandomSelector(Selector):
    """Uniformly random videos (the utility is a uniform draw)."""

    name = "random"
    reads_localizer = False

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        return check_random_state(random_state).random_sample(len(pool.video_ids))


class UncertaintySelector(Selector):
    """Uncertainty sampling: highest entropy of the histogram of a video's candidate confidence scores.

    A video's confidence scores are the attention probabilities of all its candidates (the
    paper's X); their histogram over ``bins`` equal bins of [0, 1] is normalised to a
    distribution and its entropy (nats) is the utility. A model sure of every candidate (all near
    0 or 1) gives a peaked histogram and low entropy; one unsure spreads the scores. The model is
    not retrained within a batch, so picking one at a time equals taking the top of one ranking.
    """

    name = "uncertainty"

    def __init__(self, bins: int = 10):
        self.bins = bins

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        return entropies(video_histograms(localizer.attention_scores(pool), pool.video_ids, self.bins))

    def evidence(self, localizer, labelled, pool) -> pd.DataFrame:
        """``entropy`` (the utility) and ``histogram``: the score histogram it is the entropy of."""
        histograms = video_histograms(localizer.attention_scores(pool), pool.video_ids, self.bins)
        return pd.DataFrame({"entropy": entropies(histograms), "histogram": [tuple(h) for h in histograms]},
                            index=pd.Index(pool.video_ids, name="video_id"))

    def segment_evidence(self, localizer, pool, video_id: str, k: int = 10) -> pd.DataFrame:
        """The least certain candidates, ``1 - 2 |p - 1/2|``: the scores that spread the histogram."""
        p = localizer.attention_scores(pool.subset([video_id]))[video_id]
        return strongest_segments(localizer, pool, video_id, 1 - 2 * np.abs(p - 0.5), k, "uncertainty")
