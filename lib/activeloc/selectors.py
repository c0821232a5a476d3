"""Selection functions (paper 3.2): which unlabelled videos to annotate next.

Every selector answers one call::

    select(localizer, labelled, pool, batch_size, random_state) -> DataFrame(video_id, utility, rank)

``localizer`` is the model trained on ``labelled`` (a :class:`~activeloc.dataset.Dataset`),
``pool`` the unlabelled videos. The result holds exactly ``min(batch_size, len(pool))`` pool
videos, best first, each with the utility it was chosen by. Batch mode as the paper defines it:
a selector either ranks once and takes the top ``batch_size`` (it implements ``utilities``) or
picks one video at a time, updating its own state, until the batch is full (it overrides ``select``,
as MCLE does).
Ties in utility are broken at random by ``random_state``, so that the choice is deterministic
for a seed and unbiased by the pool's order.

``select`` also takes ``cost``: the seconds each pool video costs to annotate. When given, every
utility is divided by it before ranking (utility per second of video watched);
:class:`PerSecondSelector` passes the videos' durations, so any selector has a cost-aware variant,
named ``<selector>-per-second``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

SELECTION_COLUMNS = ["video_id", "utility", "rank"]


class Selector(BaseEstimator):
    """Base class: subclasses implement :meth:`utilities` (rank once) or override :meth:`select`."""

    name = "selector"

    def utilities(self, localizer, labelled, pool) -> np.ndarray:
        raise NotImplementedError

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        ids = list(pool.video_ids)
        n = min(int(batch_size), len(ids))
        if n <= 0:
            return pd.DataFrame(columns=SELECTION_COLUMNS)
        utility = per_cost(self.utilities(localizer, labelled, pool), cost)
        return top_ranked(ids, utility, n, random_state)


def per_cost(utility, cost=None) -> np.ndarray:
    """``utility / cost`` (as floats), or ``utility`` itself when there is no cost."""
    utility = np.asarray(utility, dtype=float)
    return utility if cost is None else utility / np.maximum(np.asarray(cost, dtype=float), 1e-9)


def top_ranked(ids, utility: np.ndarray, n: int, random_state=None) -> pd.DataFrame:
    """The ``n`` highest utilities, ties in random order."""
    tie_break = np.random.default_rng(random_state).random(len(ids))
    order = np.lexsort((tie_break, -utility))[:n]
    return pd.DataFrame({"video_id": np.asarray(ids, dtype=object)[order], "utility": utility[order],
                         "rank": np.arange(n)})


class RandomSelector(Selector):
    """Uniformly random videos (the utility is the random draw)."""

    name = "random"

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        ids = list(pool.video_ids)
        utility = per_cost(np.random.default_rng(random_state).random(len(ids)), cost)
        return top_ranked(ids, utility, min(int(batch_size), len(ids)), random_state)


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

    def utilities(self, localizer, labelled, pool) -> np.ndarray:
        return _entropies(video_histograms(localizer.attention_scores(pool), pool.video_ids, self.bins))


def score_histograms(scores: np.ndarray, owner: np.ndarray, n_videos: int, bins: int = 10) -> np.ndarray:
    """``(n_videos, bins)``: each video's histogram of ``scores`` over ``bins`` equal bins of [0, 1],
    normalised to sum to 1 (``owner`` gives each score's video), all videos at once."""
    bin_of = np.minimum((np.clip(scores, 0, 1) * bins).astype(np.int64), bins - 1)
    counts = np.bincount(owner * bins + bin_of, minlength=n_videos * bins).reshape(n_videos, bins).astype(float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def video_histograms(scores_by_video: dict, video_ids, bins: int = 10) -> np.ndarray:
    """:func:`score_histograms` of per-video score arrays, rows in ``video_ids`` order."""
    per_video = [scores_by_video[v] for v in video_ids]
    owner = np.repeat(np.arange(len(per_video)), [len(x) for x in per_video])
    return score_histograms(np.concatenate(per_video) if per_video else np.zeros(0), owner, len(per_video), bins)


def _entropies(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)


def histogram_entropies(scores: np.ndarray, owner: np.ndarray, n_videos: int, bins: int = 10) -> np.ndarray:
    """Entropy (nats) of each video's :func:`score_histograms` row."""
    return _entropies(score_histograms(scores, owner, n_videos, bins))


def histogram_entropy(scores: np.ndarray, bins: int = 10) -> float:
    return float(histogram_entropies(np.asarray(scores), np.zeros(len(scores), dtype=np.int64), 1, bins)[0])


class MCLESelector(Selector):
    """Maximum Conflict, Label Equality (after Gavves et al., ICCV 2015, as the paper adapts it).

    Prior. The paper's prior is a zero-shot localizer learned from YouTube search results, which
    cannot be reached here. It is replaced by a :class:`~activeloc.localizer.StageWiseLocalizer`
    trained on the Knowledge-Source split (:meth:`fit`): its classes are disjoint from Selection's,
    but its attention module, which separates actions from background, transfers.

    Scoring. For a pool video ``v`` with candidates ``c``:

        conflict(v) = mean_c | p_prior(c) - p_current(c) |

    the mean disagreement between the prior's and the current model's attention probabilities
    about which candidates are actions (maximum conflict: where the two disagree, an annotation
    teaches the most). Label equality: with ``k(v)`` the current model's predicted class of ``v``
    (the top class of its attention-weighted top-k posteriors) and ``n_k`` the number of labelled
    videos of class ``k`` plus those already picked for this batch,

        utility(v) = conflict(v) / (1 + n_k(v)) ** balance

    Batch mode as in the paper: one video at a time, updating ``n_k`` after each pick, until the
    batch is full. Reported utilities are those at the moment of each pick. With a ``cost``, the
    conflict is divided by it before label equality applies.
    """

    name = "mcle"

    def __init__(self, prior=None, balance: float = 1.0):
        self.prior = prior
        self.balance = balance

    def fit(self, knowledge_source) -> MCLESelector:
        """Train the prior on the Knowledge-Source videos (a :class:`~activeloc.dataset.Dataset`)."""
        from .localizer import StageWiseLocalizer

        self.prior_ = (self.prior or StageWiseLocalizer(random_state=0)).fit(knowledge_source)
        return self

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        if not hasattr(self, "prior_"):
            raise NotFittedError("MCLESelector has no prior: call fit(knowledge_source) first")
        ids = list(pool.video_ids)
        n = min(int(batch_size), len(ids))
        if n <= 0:
            return pd.DataFrame(columns=SELECTION_COLUMNS)
        current = localizer.attention_scores(pool)
        prior = self.prior_.attention_scores(pool)
        conflict = per_cost([np.abs(prior[v] - current[v]).mean() for v in ids], cost)
        predicted = localizer.video_class_probabilities(pool).argmax(axis=1)
        seen = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
        counts = seen.reindex(localizer.classes_).fillna(0).to_numpy(dtype=float)
        tie_break = np.random.default_rng(random_state).random(len(ids))
        available = np.ones(len(ids), dtype=bool)
        picks, utilities = [], []
        for _ in range(n):
            utility = conflict / (1 + counts[predicted]) ** self.balance
            best = np.lexsort((tie_break, -np.where(available, utility, -np.inf)))[0]
            picks.append(best)
            utilities.append(utility[best])
            available[best] = False
            counts[predicted[best]] += 1
        return pd.DataFrame({"video_id": np.asarray(ids, dtype=object)[picks], "utility": utilities,
                             "rank": np.arange(n)})


PER_SECOND = "-per-second"


class PerSecondSelector(Selector):
    """Cost-aware variant of ``selector``: its utility per second of video to be watched.

    Annotating a video means watching it, so its cost is roughly its duration (known before
    annotation). Under a budget of annotator hours rather than of videos the rule is

        utility_per_second(v) = utility(v) / duration(v)

    with ``utility`` the wrapped selector's (for MCLE, its conflict, before label equality). A
    negative utility (LAL can predict a loss) divided by a longer duration is nearer zero, so among
    harmful videos the longest ranks first; the rule is applied literally rather than shifted.
    Learned selectors are wrapped once fitted.
    """

    def __init__(self, selector):
        self.selector = selector

    @property
    def name(self) -> str:
        return self.selector.name + PER_SECOND

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        seconds = pool.ground_truth.videos["duration"].reindex(pool.video_ids).to_numpy(dtype=float)
        if np.isnan(seconds).any():
            missing = np.asarray(pool.video_ids, dtype=object)[np.isnan(seconds)][:3]
            raise ValueError(f"no duration for pool videos {list(missing)}: cannot rank per second")
        return self.selector.select(localizer, labelled, pool, batch_size, random_state,
                                    cost=seconds if cost is None else seconds * np.asarray(cost, dtype=float))


def available_selectors() -> dict[str, type]:
    """Selector classes by name (each also has a cost-aware variant, ``<name>-per-second``)."""
    from .lal import LALSelector  # lal builds on this module, so it is imported late

    return {cls.name: cls for cls in (RandomSelector, UncertaintySelector, MCLESelector, LALSelector)}


def split_selector_name(name: str) -> tuple[str, bool]:
    """``("lal", True)`` for ``"lal-per-second"``, ``("lal", False)`` for ``"lal"``."""
    return (name[: -len(PER_SECOND)], True) if name.endswith(PER_SECOND) else (name, False)


def make_selector(name: str, **params) -> Selector:
    """The selector called ``name`` with ``params``; ``<name>-per-second`` wraps it in :class:`PerSecondSelector`."""
    base, per_second = split_selector_name(name)
    selectors = available_selectors()
    if base not in selectors:
        raise ValueError(f"unknown selector {name!r}; available: {sorted(selectors)}, each also as "
                         f"'<name>{PER_SECOND}'")
    selector = selectors[base](**params)
    return PerSecondSelector(selector) if per_second else selector
