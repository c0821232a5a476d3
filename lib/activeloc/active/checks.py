"""The selector contract, as checks (in the manner of scikit-learn's ``check_estimator`` and
scikit-activeml's template tests): a new selector is usable by the loop, the grid and the
widgets if it passes :func:`check_selector`.

Each check takes ``(selector, localizer, labelled, pool)``: a ready selector (fitted if it learns),
a localizer fitted on ``labelled`` and an unlabelled ``pool``. The pool is always handed over
label-blind, so a selector that reads the pool's annotations fails every check.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from .base import SELECTION_COLUMNS

BATCH = 16


def check_utilities_cover_the_pool(selector, localizer, labelled, pool):
    utility = np.asarray(selector.utilities(localizer, labelled, pool, random_state=0))
    assert utility.shape == (len(pool.video_ids),), f"utilities: shape {utility.shape}, pool {len(pool.video_ids)}"
    assert np.isfinite(utility).all(), "utilities: not all finite"


def check_reads_the_localizer_if_it_says_so(selector, localizer, labelled, pool):
    """A selector that declares it does not read the localizer (the loop then skips refits before
    its selections) selects the same without one."""
    if not selector.reads_localizer:
        pd.testing.assert_frame_equal(selector.select(None, labelled, pool, BATCH, random_state=1),
                                      selector.select(localizer, labelled, pool, BATCH, random_state=1))


def check_deterministic_for_a_seed(selector, localizer, labelled, pool):
    a = selector.select(localizer, labelled, pool, BATCH, random_state=3)
    b = selector.select(localizer, labelled, pool, BATCH, random_state=3)
    pd.testing.assert_frame_equal(a, b)


def check_picks_pool_videos_best_first(selector, localizer, labelled, pool):
    chosen = selector.select(localizer, labelled, pool, BATCH, random_state=0)
    assert list(chosen.columns) == SELECTION_COLUMNS, f"columns {list(chosen.columns)}"
    assert len(chosen) == min(BATCH, len(pool.video_ids)), f"{len(chosen)} videos for a batch of {BATCH}"
    assert chosen["video_id"].is_unique, "a video chosen twice"
    assert set(chosen["video_id"]) <= set(pool.video_ids), "chose videos outside the pool"
    assert not set(chosen["video_id"]) & set(labelled.video_ids), "chose labelled videos"
    assert chosen["rank"].tolist() == list(range(len(chosen))), "ranks are not 0..n-1"
    assert (np.diff(chosen["utility"].to_numpy(dtype=float)) <= 1e-12).all(), "utilities not best first"


def check_small_and_empty_pools(selector, localizer, labelled, pool):
    small = pool.subset(pool.video_ids[:5])
    assert len(selector.select(localizer, labelled, small, BATCH, random_state=0)) == 5
    empty = selector.select(localizer, labelled, pool.subset([]), BATCH, random_state=0)
    assert len(empty) == 0 and list(empty.columns) == SELECTION_COLUMNS
    assert len(selector.utilities(localizer, labelled, pool.subset([]), random_state=0)) == 0
    try:
        selector.select(localizer, labelled, pool, 0, random_state=0)
    except ValueError:
        pass
    else:
        raise AssertionError("a batch size of 0 was accepted")


def check_first_pick_is_the_best_utility_per_cost(selector, localizer, labelled, pool):
    cost = 1 + np.random.default_rng(0).random(len(pool.video_ids)) * 4
    best = np.max(np.asarray(selector.utilities(localizer, labelled, pool, random_state=5)) / cost)
    chosen = selector.select(localizer, labelled, pool, BATCH, random_state=5, cost=cost)
    assert np.isclose(chosen["utility"].iloc[0], best, rtol=1e-9), \
        f"first pick's utility {chosen['utility'].iloc[0]} is not the best utility per cost {best}"
    pick = pool.video_ids.index(chosen["video_id"].iloc[0])
    plain = np.asarray(selector.utilities(localizer, labelled, pool, random_state=5))
    assert np.isclose(plain[pick] / cost[pick], best, rtol=1e-9), "first pick is not the one with the best utility per cost"


def check_a_constant_cost_changes_no_choice(selector, localizer, labelled, pool):
    plain = selector.select(localizer, labelled, pool, BATCH, random_state=1)
    scaled = selector.select(localizer, labelled, pool, BATCH, random_state=1, cost=np.full(len(pool.video_ids), 4.0))
    assert plain["video_id"].tolist() == scaled["video_id"].tolist(), "a constant cost changed the choice"
    np.testing.assert_allclose(scaled["utility"].to_numpy(dtype=float), plain["utility"].to_numpy(dtype=float) / 4)


def check_mutates_nothing(selector, localizer, labelled, pool):
    def snapshot():
        return (joblib.hash(localizer), joblib.hash(selector), list(labelled.video_ids),
                joblib.hash(labelled.instances.reset_index(drop=True)), list(pool.video_ids))

    before = snapshot()
    selector.utilities(localizer, labelled, pool, random_state=0)
    selector.select(localizer, labelled, pool, BATCH, random_state=0)
    assert snapshot() == before, "the localizer, the selector, the labelled set or the pool changed"


def _same_params(a, b) -> bool:
    if isinstance(a, BaseEstimator) and isinstance(b, BaseEstimator):
        return type(a) is type(b) and _same_params(a.get_params(deep=False), b.get_params(deep=False))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_params(a[k], b[k]) for k in a)
    return a == b


def check_get_params_and_clone(selector, localizer, labelled, pool):
    params = selector.get_params(deep=False)
    remade = type(selector)(**params)
    assert _same_params(remade.get_params(deep=False), params), "get_params does not remake the selector"
    cloned = clone(selector)
    assert _same_params(cloned.get_params(deep=False), params), "clone changed the parameters"
    fitted = [k for k in vars(cloned) if k.endswith("_") and not k.startswith("_")]
    assert not fitted, f"a clone carries fitted attributes {fitted}"


def check_explains_its_own_picks(selector, localizer, labelled, pool):
    """``explain`` gives ``select``'s picks for the same seed, with one evidence row per pool video
    behind them; ``segment_evidence`` names candidates of the video asked about (or None)."""
    picks = selector.select(localizer, labelled, pool, BATCH, random_state=4)
    explained = selector.explain(localizer, labelled, pool, BATCH, random_state=4)
    pd.testing.assert_frame_equal(explained[SELECTION_COLUMNS], picks)
    evidence = selector.evidence(localizer, labelled, pool)
    assert evidence.index.tolist() == list(pool.video_ids), "evidence: not one row per pool video in pool order"
    assert set(evidence.columns) <= set(explained.columns), "explain leaves out evidence columns"
    video = picks["video_id"].iloc[0]
    segments = selector.segment_evidence(localizer, pool, video, k=3)
    if segments is not None:
        duration = float(pool.durations()[video])
        assert 0 < len(segments) <= 3 and "what" in segments.attrs, "segment_evidence: 1 to k rows, named"
        assert ((segments["t_start"] >= 0) & (segments["t_start"] < segments["t_end"])
                & (segments["t_end"] <= duration + 1e-9)).all(), "segment_evidence: segments outside the video"


CHECKS = (check_utilities_cover_the_pool, check_deterministic_for_a_seed, check_picks_pool_videos_best_first,
          check_small_and_empty_pools, check_first_pick_is_the_best_utility_per_cost,
          check_a_constant_cost_changes_no_choice, check_mutates_nothing, check_get_params_and_clone,
          check_reads_the_localizer_if_it_says_so, check_explains_its_own_picks)


def check_selector(selector, localizer, labelled, pool, checks=CHECKS) -> None:
    """Run every check on a label-blind view of ``pool``; the first failure raises ``AssertionError``
    (or the selector's own error) naming the check."""
    blind = pool.without_labels()
    for check in checks:
        try:
            check(selector, localizer, labelled, blind)
        except Exception as exc:
            raise AssertionError(f"{selector.name}: {check.__name__}: {type(exc).__name__}: {exc}") from exc
