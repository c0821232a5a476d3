"""MCLE: Maximum Conflict, Label Equality (after Gavves et al., ICCV 2015, as the paper adapts it, 3.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..localization.localizer import StageWiseLocalizer
from .base import LearnedSelector, batch_length, empty_selection, per_cost
from .histograms import video_means


class MCLESelector(LearnedSelector):
    """Maximum Conflict, Label Equality.

    Prior. The paper's prior is a zero-shot localizer learned from YouTube search results, which
    cannot be reached here. It is replaced by a clone of ``localizer`` (the default
    :class:`~activeloc.localization.localizer.StageWiseLocalizer` when None) trained on the
    Knowledge-Source split (:meth:`fit`, kept as ``prior_``): its classes are disjoint from
    Selection's, but its attention module, which separates actions from background, transfers.

    Scoring. For a pool video ``v`` with candidates ``c``:

        conflict(v) = mean_c | p_prior(c) - p_current(c) |

    the mean disagreement between the prior's and the current model's attention probabilities
    about which candidates are actions (maximum conflict: where the two disagree, an annotation
    teaches the most). Label equality: with ``k(v)`` the current model's predicted class of ``v``
    (the top class of its attention-weighted top-k posteriors) and ``n_k`` the number of labelled
    videos of class ``k`` plus those already picked for this batch,

        utility(v) = conflict(v) / (1 + n_k(v)) ** balance

    Batch mode as in the paper: one video at a time, updating ``n_k`` after each pick, until the
    batch is full. Reported utilities are those at the moment of each pick; :meth:`utilities` is
    the whole pool's before the first. A ``cost`` divides the conflict (equivalently, the utility).
    """

    name = "mcle"

    def __init__(self, localizer=None, balance: float = 1.0, random_state=0):
        self.localizer = localizer
        self.balance = balance
        self.random_state = random_state

    def fit(self, knowledge_source) -> MCLESelector:
        template = StageWiseLocalizer() if self.localizer is None else self.localizer
        self.prior_ = clone(template).set_params(random_state=self.random_state).fit(knowledge_source)
        return self

    def _scores(self, localizer, labelled, pool):
        """Conflict per pool video, its predicted class, and labelled videos per class."""
        check_is_fitted(self, "prior_", msg="MCLESelector has no prior: call fit(knowledge_source) first")
        current = localizer.attention_scores(pool)
        prior = self.prior_.attention_scores(pool)
        conflict = video_means({v: np.abs(prior[v] - current[v]) for v in pool.video_ids}, pool.video_ids)
        predicted = localizer.video_class_probabilities(pool).argmax(axis=1)
        seen = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
        counts = seen.reindex(localizer.classes_).fillna(0).to_numpy(dtype=float)
        return conflict, predicted, counts

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        if not pool.video_ids:
            return np.zeros(0)
        conflict, predicted, counts = self._scores(localizer, labelled, pool)
        return conflict / (1 + counts[predicted]) ** self.balance

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None):
        n = batch_length(batch_size, pool)
        if n == 0:
            return empty_selection()
        conflict, predicted, counts = self._scores(localizer, labelled, pool)
        conflict = per_cost(conflict, cost)
        tie_break = check_random_state(random_state).random_sample(len(conflict))
        available = np.ones(len(conflict), dtype=bool)
        picks, utilities = [], []
        for _ in range(n):
            utility = conflict / (1 + counts[predicted]) ** self.balance
            # The highest utility still available, ties to the lowest tie-break draw (one pass,
            # where a sort of the pool per pick cost most of a step).
            open_utility = np.where(available, utility, -np.inf)
            tied = np.flatnonzero(open_utility == open_utility.max())
            best = tied[np.argmin(tie_break[tied])]
            picks.append(best)
            utilities.append(utility[best])
            available[best] = False
            counts[predicted[best]] += 1
        ids = np.asarray(pool.video_ids, dtype=object)
        return pd.DataFrame({"video_id": ids[picks], "utility": utilities, "rank": np.arange(n)})
