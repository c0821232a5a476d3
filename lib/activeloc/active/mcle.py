"""MCLE: Maximum Conflict, Label Equality (after Gavves et al., ICCV 2015, as the paper adapts it, 3.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..localization.localizer import StageWiseLocalizer
from ..localization.segments import top_k_per_group
from .base import LearnedSelector, batch_length, empty_selection, per_cost, strongest_segments

TERMS = ("conflict", "label_equality")


class MCLESelector(LearnedSelector):
    """Maximum Conflict, Label Equality (paper 3.2, after Gavves et al., ICCV 2015).

    Prior. The paper's prior is a zero-shot localizer learned from YouTube search results, which
    cannot be reached here. It is replaced by a clone of ``localizer`` (the default
    :class:`~activeloc.localization.localizer.StageWiseLocalizer` when None) trained on the
    Knowledge-Source split (:meth:`fit`, kept as ``prior_``): its classes are disjoint from
    Selection's, but its attention module, which separates actions from background, transfers.

    Warm start (the paper's "zero-shot learning as warm initialization"; Gavves et al. learn the
    target classifier by adaptive SVM, regularised toward the prior): :meth:`warm_start_localizer`
    gives the loop a localizer whose attention weights are shrunk toward the prior's,
    ``(s / n) ||w - w_prior||^2`` with ``s = prior_strength`` (see
    :class:`~activeloc.localization.localizer.StageWiseLocalizer`'s ``attention_prior``): the prior
    counts as ``s`` training videos. ``prior_strength=None``: as many as it was learned from
    (``prior_.n_training_videos_``); 0: no warm start.

    Maximum conflict. Gavves et al. derive it from adaptive SVM's dual: a sample moves the model
    away from its prior when its label contradicts the prior's confident prediction. With the
    label unknown, the current model's posterior stands for it. For a candidate ``c`` with
    calibrated attention probabilities ``p`` (current model) and ``q`` (prior),

        conflict(c) = -(2 p(c) - 1) (2 q(c) - 1)          in [-1, 1]

    the expected disagreement between the prior's margin and a label drawn from the current model:
    signed (positive where they disagree about action against background, negative where they
    agree) and weighted by both models' confidence. Equivalently ``conflict = 2 d - 1`` with
    ``d(c) = p (1 - q) + (1 - p) q`` the probability that the two models' labels differ. A video's
    conflict is the mean over ``C(v)``, the candidates in the top-k (the localizer's ``top_k``) of
    either model, those that become detections (a mean over every candidate would be one over
    background, where both models agree), and it enters the utility as ``d(v) = (1 + conflict(v)) / 2``.

    Label equality. Gavves et al.'s second condition (the dual's equality constraint: the selected
    labels balanced). Here, over action classes: with ``k(v)`` the current model's predicted class
    of ``v`` (the top class of its attention-weighted top-k posteriors) and ``n_k`` the number of
    labelled videos of class ``k`` plus those already picked for this batch,

        utility(v) = d(v) / (1 + n_k(v)) ** balance

    Batch mode as in the paper: one video at a time, updating ``n_k`` after each pick, until the
    batch is full. Reported utilities are those at the moment of each pick; :meth:`utilities` is
    the whole pool's before the first. A ``cost`` divides the utility.

    Ablations (``terms``, fixed per class): ``mcle-conflict-only`` ranks by ``d(v)`` alone (one
    ranking, no update); ``mcle-label-equality-only`` by ``1 / (1 + n_k(v)) ** balance`` alone
    (ties, which are many, in random order: a class-balanced random draw). Both warm-start as MCLE.
    """

    name = "mcle"
    terms = TERMS

    def __init__(self, localizer=None, balance: float = 1.0, prior_strength: float | None = None, random_state=0):
        self.localizer = localizer
        self.balance = balance
        self.prior_strength = prior_strength
        self.random_state = random_state

    def fit(self, knowledge_source) -> MCLESelector:
        template = StageWiseLocalizer() if self.localizer is None else self.localizer
        self.prior_ = clone(template).set_params(random_state=self.random_state).fit(knowledge_source)
        return self

    def _prior(self):
        check_is_fitted(self, "prior_", msg=f"{type(self).__name__} has no prior: call fit(knowledge_source) first")
        return self.prior_

    def warm_start_localizer(self, localizer):
        prior = self._prior()
        strength = prior.n_training_videos_ if self.prior_strength is None else float(self.prior_strength)
        if strength == 0:
            return localizer
        return clone(localizer).set_params(attention_prior=prior.coef_.copy(), attention_prior_strength=strength)

    def _attended(self, localizer, pool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per candidate of the pool's videos (pool order, each video's in candidate order): the
        current model's and the prior's attention ``p`` and ``q``, whether it is in either model's
        top-k, and the index of its video in ``pool.video_ids``."""
        prior = self._prior()
        current, before = localizer.attention_scores(pool), prior.attention_scores(pool)
        ids = pool.video_ids
        lengths = np.array([len(current[v]) for v in ids], dtype=np.int64)
        if not np.array_equal(lengths, [len(before[v]) for v in ids]):
            raise ValueError("the MCLE prior and the current localizer propose different candidates: "
                             "learn the prior with the loop's localizer template")
        owner = np.repeat(np.arange(len(ids)), lengths)
        p = np.concatenate([current[v] for v in ids]).astype(np.float64) if ids else np.zeros(0)
        q = np.concatenate([before[v] for v in ids]).astype(np.float64) if ids else np.zeros(0)
        attended = np.zeros(len(p), dtype=bool)
        attended[top_k_per_group(p, owner, localizer.top_k)] = True
        attended[top_k_per_group(q, owner, prior.top_k)] = True
        return p, q, attended, owner

    def candidate_conflicts(self, localizer, pool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per candidate of the pool's videos (in pool order, each video's in candidate order): its
        signed conflict ``-(2p - 1)(2q - 1)``, whether it is in either model's top-k (those a video's
        conflict averages), and the index of its video in ``pool.video_ids``."""
        p, q, attended, owner = self._attended(localizer, pool)
        return -(2 * p - 1) * (2 * q - 1), attended, owner

    @staticmethod
    def _attended_means(values, attended, owner, n: int) -> np.ndarray:
        """Each video's mean of ``values`` over its attended candidates (0 for a video without)."""
        count = np.bincount(owner[attended], minlength=n)
        total = np.bincount(owner[attended], weights=values[attended], minlength=n)
        return np.divide(total, count, out=np.zeros(n), where=count > 0)

    def conflict(self, localizer, pool) -> np.ndarray:
        """``conflict(v)`` of every pool video (see the class docstring), in ``[-1, 1]``; 0 for a
        video without candidates."""
        signed, attended, owner = self.candidate_conflicts(localizer, pool)
        return self._attended_means(signed, attended, owner, len(pool.video_ids))

    def _classes(self, localizer, labelled, pool) -> tuple[np.ndarray, np.ndarray]:
        """Each pool video's predicted class (an index into ``localizer.classes_``) and the labelled
        videos of each class."""
        predicted = localizer.video_class_probabilities(pool).argmax(axis=1)
        seen = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
        return predicted, seen.reindex(localizer.classes_).fillna(0).to_numpy(dtype=float)

    def _scores(self, localizer, labelled, pool):
        """Per pool video: the conflict term ``d(v)`` (ones without it), its predicted class, and
        labelled videos per class (without label equality: one class, no video)."""
        n = len(pool.video_ids)
        disagreement = (1 + self.conflict(localizer, pool)) / 2 if "conflict" in self.terms else np.ones(n)
        if "label_equality" not in self.terms:  # the class posteriors cost most of a step
            return disagreement, np.zeros(n, dtype=np.intp), np.zeros(1)
        return (disagreement, *self._classes(localizer, labelled, pool))

    def evidence(self, localizer, labelled, pool) -> pd.DataFrame:
        """With the conflict term: ``current_attention`` and ``prior_attention`` (each model's mean
        attention over the candidates the conflict averages), ``conflict`` and ``disagreement``
        (``d(v)``); with label equality: ``predicted_class`` and ``labelled_of_class`` (``n_k(v)``
        before this batch's picks)."""
        ids = pool.video_ids
        frame = pd.DataFrame(index=pd.Index(ids, name="video_id"))
        if "conflict" in self.terms:
            p, q, attended, owner = self._attended(localizer, pool)
            frame["current_attention"] = self._attended_means(p, attended, owner, len(ids))
            frame["prior_attention"] = self._attended_means(q, attended, owner, len(ids))
            frame["conflict"] = self._attended_means(-(2 * p - 1) * (2 * q - 1), attended, owner, len(ids))
            frame["disagreement"] = (1 + frame["conflict"]) / 2
        if "label_equality" in self.terms:
            predicted, counts = self._classes(localizer, labelled, pool)
            frame["predicted_class"] = np.asarray(localizer.classes_, dtype=object)[predicted] if ids else []
            frame["labelled_of_class"] = counts[predicted]
        return frame

    def segment_evidence(self, localizer, pool, video_id: str, k: int = 10) -> pd.DataFrame | None:
        """Of the candidates the conflict averages (in the top-k of the prior or of the current
        model), those where the two disagree most (the signed conflict); None without that term."""
        if "conflict" not in self.terms:
            return None
        signed, attended, _ = self.candidate_conflicts(localizer, pool.subset([video_id]))
        return strongest_segments(localizer, pool, video_id, np.where(attended, signed, -np.inf),
                                  min(k, int(attended.sum())), "conflict")

    def _balance(self) -> float:
        return float(self.balance) if "label_equality" in self.terms else 0.0

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        if not pool.video_ids:
            return np.zeros(0)
        disagreement, predicted, counts = self._scores(localizer, labelled, pool)
        return disagreement / (1 + counts[predicted]) ** self._balance()

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None):
        n = batch_length(batch_size, pool)
        if n == 0:
            return empty_selection()
        disagreement, predicted, counts = self._scores(localizer, labelled, pool)
        disagreement = per_cost(disagreement, cost)
        balance = self._balance()
        tie_break = check_random_state(random_state).random_sample(len(disagreement))
        available = np.ones(len(disagreement), dtype=bool)
        picks, utilities = [], []
        for _ in range(n):
            utility = disagreement / (1 + counts[predicted]) ** balance
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


class MCLEConflictOnly(MCLESelector):
    """MCLE's ablation without label equality: the pool ranked by ``d(v)`` (see :class:`MCLESelector`)."""

    name = "mcle-conflict-only"
    ablation_of = "mcle"
    terms = ("conflict",)


class MCLELabelEqualityOnly(MCLESelector):
    """MCLE's ablation without maximum conflict: ``1 / (1 + n_k(v)) ** balance``, one pick at a
    time (see :class:`MCLESelector`)."""

    name = "mcle-label-equality-only"
    ablation_of = "mcle"
    terms = ("label_equality",)
