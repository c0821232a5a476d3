"""Diversity-aware batches (active/diverse.py): the ranked-batch rule by hand, and its limits."""

import numpy as np
import pytest

from activeloc.active.base import Selector
from activeloc.active.baselines import RandomSelector, UncertaintySelector
from activeloc.active.diverse import DiverseSelector, nearest_distances, video_features
from activeloc.data.dataset import VideoSet
from activeloc.data.features import InMemoryFeatureStore


class Fixed(Selector):
    """Utilities given by hand, per video id."""

    name = "fixed"
    reads_localizer = False

    def __init__(self, scores=None):
        self.scores = scores

    def utilities(self, localizer, labelled, pool, random_state=None):
        return np.array([self.scores[v] for v in pool.video_ids], dtype=float)


def hand_videos():
    """Videos with constant snippet features: a and twin identical, b and c elsewhere, l labelled."""
    where = {"a": [0.0, 0.0], "twin": [0.0, 0.0], "b": [3.0, 0.0], "c": [0.0, 5.0], "l": [-4.0, 0.0]}
    store = InMemoryFeatureStore({v: np.tile(x, (4, 1)) for v, x in where.items()}, dict.fromkeys(where, 10.0))
    videos = VideoSet(store, dict.fromkeys(where, 10.0), list(where))
    return videos.subset(["a", "twin", "b", "c"]), videos.subset(["l"])


def test_two_identical_videos_are_not_both_chosen():
    pool, labelled = hand_videos()
    np.testing.assert_array_equal(video_features(pool.subset(["c", "a", "b"])), [[0, 5], [0, 0], [3, 0]])
    base = Fixed({"a": 1.0, "twin": 1.0, "b": 0.95, "c": 0.1})
    diverse = DiverseSelector(base, utility_weight=0.5).select(None, labelled, pool, 2, random_state=0)
    assert set(diverse["video_id"]) in ({"a", "b"}, {"twin", "b"})
    plain = DiverseSelector(base, utility_weight=1.0).select(None, labelled, pool, 2, random_state=0)
    assert set(plain["video_id"]) == {"a", "twin"}
    alone = DiverseSelector(base).select(None, labelled.subset([]), pool, 2, random_state=0)  # nothing labelled yet
    assert set(alone["video_id"]) in ({"a", "b"}, {"twin", "b"})


def test_the_rule_by_hand():
    """score = w u / max|u| + (1 - w)(1 - 1 / (1 + d / h)), d to the nearest labelled or picked
    video, h the pool's median distance to the labelled set: a literal greedy replay."""
    pool, labelled = hand_videos()
    base = Fixed({"a": 2.0, "twin": 1.9, "b": 1.0, "c": 0.5})
    picks = DiverseSelector(base, utility_weight=0.3).explain(None, labelled, pool, 3, random_state=0)
    at = {"a": (0, 0), "twin": (0, 0), "b": (3, 0), "c": (0, 5), "l": (-4, 0)}
    chosen, expected = ["l"], []
    h = float(np.median([np.hypot(at[v][0] + 4, at[v][1]) for v in pool.video_ids]))
    for _ in range(3):
        rows = []
        for v in pool.video_ids:
            if v not in chosen:
                d = min(np.hypot(at[v][0] - at[s][0], at[v][1] - at[s][1]) for s in chosen)
                redundancy = 1 / (1 + d / h)
                rows.append((0.3 * base.scores[v] / 2.0 + 0.7 * (1 - redundancy), v, redundancy))
        best = max(rows)
        expected.append(best)
        chosen.append(best[1])
    assert picks["video_id"].tolist() == [v for _, v, _ in expected] and "twin" not in chosen
    np.testing.assert_allclose(picks["utility"], [u for u, _, _ in expected])
    np.testing.assert_allclose(picks["redundancy"], [r for _, _, r in expected])
    assert picks["base_utility"].tolist() == [base.scores[v] for v in chosen[1:]]


def test_utility_weight_one_is_the_base_selectors_top_k(fitted):
    loc, labelled, pool = fitted
    for base in (UncertaintySelector(), RandomSelector()):
        for seed in (0, 3):
            plain = base.select(loc, labelled, pool, 20, random_state=seed)
            diverse = DiverseSelector(base, utility_weight=1.0).select(loc, labelled, pool, 20, random_state=seed)
            assert diverse["video_id"].tolist() == plain["video_id"].tolist()
    spread = DiverseSelector(UncertaintySelector(), utility_weight=0.0).explain(loc, labelled, pool, 20, random_state=0)
    assert (np.diff(spread["redundancy"]) >= -1e-12).all()  # farthest first: each pick nearer than the last


def test_errors(fitted):
    loc, labelled, pool = fitted
    with pytest.raises(ValueError, match="utility_weight must be in \\[0, 1\\], got 2"):
        DiverseSelector(RandomSelector(), utility_weight=2).select(loc, labelled, pool, 4)


def test_nearest_distances_match_a_literal_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(11, 3))
    expected = [min(np.linalg.norm(x - y) for y in b) for x in a]
    np.testing.assert_allclose(nearest_distances(a, b, chunk=4), expected, rtol=1e-9)
    assert np.isinf(nearest_distances(a, b[:0])).all()
