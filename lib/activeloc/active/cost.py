"""Cost-aware selection: any selector's utility per second of video to be watched."""

from __future__ import annotations

import numpy as np

from .base import WrappingSelector

PER_SECOND = "-per-second"


class PerSecondSelector(WrappingSelector):
    """Cost-aware variant of ``selector``: its utility per second of video to be watched.

    Annotating a video means watching it, so its cost is roughly its duration (known before
    annotation). Under a budget of annotator hours rather than of videos the rule is

        utility_per_second(v) = utility(v) / duration(v)

    with ``utility`` the wrapped selector's (for MCLE, the conflict is divided, which is the same).
    A negative utility (LAL can predict a loss) divided by a longer duration is nearer zero, so
    among harmful videos the longest ranks first; the rule is applied literally rather than
    shifted. Learned selectors are wrapped once fitted.
    """

    suffix = PER_SECOND

    def __init__(self, selector):
        self.selector = selector

    @staticmethod
    def _seconds(pool) -> np.ndarray:
        return pool.durations().to_numpy(dtype=float)

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        return self.selector.utilities(localizer, labelled, pool, random_state=random_state) / np.maximum(
            self._seconds(pool), 1e-9)

    def _cost(self, pool, cost):
        seconds = self._seconds(pool)
        return seconds if cost is None else seconds * np.asarray(cost, dtype=float)

    def select(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None):
        return self.selector.select(localizer, labelled, pool, batch_size, random_state=random_state,
                                    cost=self._cost(pool, cost))

    def explain(self, localizer, labelled, pool, batch_size: int, random_state=None, cost=None):
        """The wrapped selector's explanation of the picks per second, with each pick's ``seconds``."""
        picks = self.selector.explain(localizer, labelled, pool, batch_size, random_state=random_state,
                                      cost=self._cost(pool, cost))
        return picks.assign(seconds=pool.durations().loc[picks["video_id"]].to_numpy(dtype=float))
