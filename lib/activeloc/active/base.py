"""Selection functions (paper 3.2): the interface every selector shares.

A selector answers two calls about an unlabelled pool::

    utilities(localizer, labelled, pool, random_state) -> one utility per pool video (higher first)
    select(localizer, labelled, pool, batch_size, random_state, cost) -> DataFrame(video_id, utility, rank)

``localizer`` is the model trained on ``labelled`` (a :class:`~activeloc.data.dataset.Dataset`);
``pool`` is a label-blind :class:`~activeloc.data.dataset.VideoSet`: asking it for instances is an
error, so a selector cannot read the answers it is meant to ask for. ``utilities`` scores the
whole pool at the current state (for analysis and inspection); ``select`` returns exactly
``min(batch_size, len(pool))`` pool videos, best first, each with the utility it was chosen by.
Batch mode as the paper defines it: by default a selector ranks once and takes the top
``batch_size``; one that updates its own state after each pick (MCLE) overrides ``select``, and
its first pick is still the best of ``utilities``. Ties are broken at random by
``random_state`` (drawn from with :func:`sklearn.utils.check_random_state`), so a choice is
deterministic for a seed and unbiased by the pool's order.

``cost``: the seconds each pool video costs to annotate. When given, every utility is divided by
it before ranking (utility per second of video watched); the ``-per-second`` variants
(:class:`~activeloc.active.cost.PerSecondSelector`) pass the videos' durations.

Warm start: before its first step the loop hands its localizer template to
``selector.warm_start_localizer(localizer)`` and fits what comes back instead. By default that is
the template itself; a selector that carries a model learned elsewhere (MCLE's Knowledge-Source
prior) returns a new template initialised from it (the paper's "warm initialization", 3.2). It
reads no labels and never changes the template it is given.

Every registered selector is held to this contract by :func:`activeloc.active.checks.check_selector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

SELECTION_COLUMNS = ["video_id", "utility", "rank"]


class Selector(BaseEstimator, ABC):
    """Base class: implement :meth:`utilities`; override :meth:`select` to pick one at a time."""

    name = "selector"
    # Whether utilities read the localizer: the loop refits only for selectors that do, and for
    # evaluations (exact refits make the skipped fits' model the same as the next fit's).
    reads_localizer = True

    @abstractmethod
    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        """One utility per video of ``pool`` (in its order), higher is better."""

    def warm_start_localizer(self, localizer):
        """The localizer template the loop fits (unfitted, not ``localizer`` changed in place): by
        default ``localizer`` itself; see the module docstring."""
        return localizer

    def evidence(self, localizer, labelled, pool) -> pd.DataFrame:
        """What each pool video's utility rests on, as the run inspector shows it: one row per pool
        video (index ``video_id``, pool order), selector-specific columns; none by default."""
        return pd.DataFrame(index=pd.Index(pool.video_ids, name="video_id"))

    def segment_evidence(self, localizer, pool, video_id: str, k: int = 10) -> pd.DataFrame | None:
        """The ``k`` candidates of ``video_id`` (a video of ``pool``) its utility rests on most:
        ``t_start, t_end, value``, with ``attrs["what"]`` naming the value; None for selectors whose
        utility rests on no segment (Random) or on the whole histogram through a learned model (LAL)."""
        return None

    def explain(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        """:meth:`select`'s picks (the same, for the same seed) joined with their :meth:`evidence`."""
        picks = self.select(localizer, labelled, pool, batch_size, random_state=random_state, cost=cost)
        return picks.join(self.evidence(localizer, labelled, pool), on="video_id")

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None) -> pd.DataFrame:
        n = batch_length(batch_size, pool)
        if n == 0:
            return empty_selection()
        rng = check_random_state(random_state)
        utility = per_cost(self.utilities(localizer, labelled, pool, random_state=rng), cost)
        return top_ranked(pool.video_ids, utility, n, rng)


class WrappingSelector(Selector):
    """A variant of another selector (its ``selector`` parameter), named by a ``suffix`` to its
    name; it reads the localizer, and warm-starts it, as the wrapped selector does."""

    suffix = ""

    @property
    def name(self) -> str:
        return self.selector.name + self.suffix

    @property
    def reads_localizer(self) -> bool:
        return self.selector.reads_localizer

    def warm_start_localizer(self, localizer):
        return self.selector.warm_start_localizer(localizer)

    def evidence(self, localizer, labelled, pool) -> pd.DataFrame:
        return self.selector.evidence(localizer, labelled, pool)

    def segment_evidence(self, localizer, pool, video_id: str, k: int = 10) -> pd.DataFrame | None:
        return self.selector.segment_evidence(localizer, pool, video_id, k)


class LearnedSelector(Selector):
    """A selector that learns from the Knowledge-Source split before it selects: ``fit(knowledge_source)``.

    Its ``localizer`` parameter is the localizer template it learns with (cloned, never fitted in
    place); the experiment grid sets it to the grid's own localizer so that a selector learns on
    the model the loop uses.
    """

    @abstractmethod
    def fit(self, knowledge_source) -> LearnedSelector:
        """Learn from the Knowledge-Source videos (a :class:`~activeloc.data.dataset.Dataset`)."""


def batch_length(batch_size: int, pool) -> int:
    """How many videos a batch holds: ``min(batch_size, len(pool))``; a batch size below 1 is an error."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return min(int(batch_size), len(pool.video_ids))


def empty_selection() -> pd.DataFrame:
    return pd.DataFrame({"video_id": pd.Series(dtype=object), "utility": pd.Series(dtype=float),
                         "rank": pd.Series(dtype=np.int64)})


def per_cost(utility, cost=None) -> np.ndarray:
    """``utility / cost`` (as floats), or ``utility`` itself when there is no cost."""
    utility = np.asarray(utility, dtype=float)
    return utility if cost is None else utility / np.maximum(np.asarray(cost, dtype=float), 1e-9)


def strongest_segments(localizer, pool, video_id: str, value: np.ndarray, k: int, what: str) -> pd.DataFrame:
    """The ``k`` candidates of ``video_id`` with the highest ``value`` (one per candidate, in
    candidate order), as :meth:`Selector.segment_evidence` gives them."""
    segments = localizer.candidate_segments(pool.subset([video_id]))[video_id]
    top = np.argsort(-np.asarray(value, dtype=float), kind="stable")[:k]
    frame = pd.DataFrame({"t_start": segments[top, 0], "t_end": segments[top, 1], "value": np.asarray(value)[top]})
    frame.attrs["what"] = what
    return frame


def top_ranked(ids, utility: np.ndarray, n: int, random_state=None) -> pd.DataFrame:
    """The ``n`` highest utilities, ties in random order."""
    tie_break = check_random_state(random_state).random_sample(len(ids))
    order = np.lexsort((tie_break, -utility))[:n]
    return pd.DataFrame({"video_id": np.asarray(ids, dtype=object)[order], "utility": utility[order],
                         "rank": np.arange(n)})
