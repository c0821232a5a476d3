"""Every registered selector, and every cost-aware variant, against the selector contract; then
what each selector is meant to do."""

import numpy as np
import pytest

from activeloc.active.base import Selector
from activeloc.active.baselines import UncertaintySelector
from activeloc.active.checks import CHECKS, check_selector
from activeloc.active.cost import PerSecondSelector
from activeloc.active.histograms import entropies, histogram_entropy, score_histograms
from activeloc.active.mcle import MCLESelector
from activeloc.active.registry import make_selector, selector_names, split_selector_name
from activeloc.data.dataset import LabelBlindError

# Small bootstraps, so that learned selectors are fitted in seconds; any other selector uses its defaults.
FAST = {"lal": {"n_states": 4, "probes_per_state": 4}}
_READY = {}


def ready(name, data):
    """The registered selector ``name``, fitted on Knowledge-Source if it learns (once per session)."""
    base, per_second = split_selector_name(name)
    if base not in _READY:
        selector = make_selector(base, **FAST.get(base, {}))
        if hasattr(selector, "fit"):
            selector.fit(data.split("knowledge_source"))
        _READY[base] = selector
    return PerSecondSelector(_READY[base]) if per_second else _READY[base]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", selector_names())
def test_every_selector_meets_the_contract(name, check, data, fitted):
    check_selector(ready(name, data), *fitted, checks=[check])


class PeekingSelector(Selector):
    """Ranks by how many true instances a pool video has: the answers it must not see."""

    name = "peeking"

    def utilities(self, localizer, labelled, pool, random_state=None):
        counts = pool.instances.groupby("video_id").size()
        return counts.reindex(pool.video_ids).fillna(0).to_numpy(float)


class PeekingThroughTheLabelledSet(Selector):
    """Ranks by the pool videos' classes, looked up in what the labelled set carries."""

    name = "peeking-via-labelled"

    def utilities(self, localizer, labelled, pool, random_state=None):
        known = labelled.ground_truth.instances.drop_duplicates("video_id").set_index("video_id")["label"]
        classes = labelled.splits.loc[pool.video_ids, "label"]  # every video's main class, if it were there
        return (classes.to_numpy() == known.iloc[0]).astype(float)


def test_a_selector_that_reads_the_pool_labels_fails_the_contract(data, fitted):
    loc, labelled, pool = fitted
    with pytest.raises(AssertionError, match="peeking.*LabelBlindError"):
        check_selector(PeekingSelector(), loc, labelled, pool)
    with pytest.raises(AssertionError, match="peeking-via-labelled.*KeyError"):
        check_selector(PeekingThroughTheLabelledSet(), loc, labelled, pool)
    assert set(labelled.ground_truth.video_ids) == set(labelled.splits.index) == set(labelled.video_ids)
    sel = data.split("selection")
    with pytest.raises(AssertionError, match="LabelBlindError"):  # even when handed a labelled pool
        check_selector(PeekingSelector(), loc, labelled, sel.subset(pool.video_ids))
    with pytest.raises(LabelBlindError):
        PeekingSelector().utilities(loc, labelled, pool)


class Meddling(Selector):
    """Picks well but changes the localizer it was handed."""

    name = "meddling"

    def utilities(self, localizer, labelled, pool, random_state=None):
        localizer.top_k += 1
        return np.zeros(len(pool.video_ids))


class Greedy(Selector):
    """Returns one video too many."""

    name = "greedy"

    def utilities(self, localizer, labelled, pool, random_state=None):
        return np.arange(len(pool.video_ids), dtype=float)

    def select(self, localizer, labelled, pool, batch_size, random_state=None, cost=None):
        return super().select(localizer, labelled, pool, batch_size + 1, random_state, cost)


class Unseeded(Selector):
    """Ignores its random_state."""

    name = "unseeded"

    def utilities(self, localizer, labelled, pool, random_state=None):
        return np.random.default_rng().random(len(pool.video_ids))


@pytest.mark.parametrize("selector, check", [
    (Meddling(), "check_mutates_nothing"), (Greedy(), "check_picks_pool_videos_best_first"),
    (Unseeded(), "check_deterministic_for_a_seed"), (Unseeded(), "check_first_pick_is_the_best_utility_per_cost")])
def test_the_checks_catch_what_they_are_for(selector, check, fitted):
    from sklearn.base import clone

    loc = clone(fitted[0])
    loc.__dict__.update({k: v for k, v in vars(fitted[0]).items() if k.endswith("_")})
    with pytest.raises(AssertionError, match=check):
        check_selector(selector, loc, *fitted[1:], checks=[c for c in CHECKS if c.__name__ == check])


def test_per_second_ranks_by_utility_per_second_of_video(fitted):
    loc, labelled, pool = fitted
    seconds = pool.durations().to_numpy()
    per_second = UncertaintySelector().utilities(loc, labelled, pool) / seconds
    chosen = make_selector("uncertainty-per-second").select(loc, labelled, pool, 10, random_state=0)
    assert chosen["video_id"].tolist() == list(np.asarray(pool.video_ids, dtype=object)[np.argsort(-per_second)[:10]])
    assert chosen["utility"].to_numpy() == pytest.approx(np.sort(per_second)[::-1][:10])
    plain = UncertaintySelector().select(loc, labelled, pool, 10, random_state=0)
    assert pool.durations().loc[chosen["video_id"]].sum() < pool.durations().loc[plain["video_id"]].sum()


def test_names_and_errors():
    assert make_selector("lal-per-second").name == "lal-per-second"
    assert set(selector_names(cost_aware=False)) == {"random", "uncertainty", "mcle", "lal"}
    with pytest.raises(ValueError, match="unknown selector 'foo-per-second'"):
        make_selector("foo-per-second")


def test_entropies_hand_cases():
    assert histogram_entropy(np.array([0.01, 0.02, 0.99, 0.98])) == pytest.approx(np.log(2))
    assert histogram_entropy(np.full(7, 0.5)) == 0.0
    assert histogram_entropy(np.linspace(0, 0.999, 100)) == pytest.approx(np.log(10))


def test_vectorised_entropies_match_numpy_histograms():
    rng = np.random.default_rng(0)
    videos = [rng.beta(a, b, n) for a, b, n in ((0.3, 0.3, 50), (2, 5, 7), (1, 1, 113), (5, 1, 1))]
    owner = np.repeat(np.arange(len(videos)), [len(v) for v in videos])
    got = entropies(score_histograms(np.concatenate(videos), owner, len(videos)))
    for value, scores in zip(got, videos):
        counts = np.histogram(scores, bins=10, range=(0, 1))[0]
        p = counts[counts > 0] / counts.sum()
        assert value == pytest.approx(-(p * np.log(p)).sum())


def test_mcle_needs_a_prior(fitted):
    loc, labelled, pool = fitted
    with pytest.raises(Exception, match="fit\\(knowledge_source\\)"):
        MCLESelector().select(loc, labelled, pool, 4)


def test_mcle_clones_its_localizer_and_fits_nothing_in_place(data):
    from activeloc import StageWiseLocalizer

    template = StageWiseLocalizer(top_k=5)
    mcle = MCLESelector(localizer=template).fit(data.split("knowledge_source"))
    assert not hasattr(template, "coef_") and mcle.prior_ is not template and mcle.prior_.top_k == 5


def test_mcle_label_equality_spreads_a_batch_over_classes(data, fitted):
    loc, labelled, pool = fitted
    mcle = ready("mcle", data)
    predicted = dict(zip(pool.video_ids, loc.video_class_probabilities(pool).argmax(axis=1)))
    balanced = mcle.select(loc, labelled, pool, 12, random_state=0)
    conflict_only = MCLESelector(balance=0.0)
    conflict_only.prior_ = mcle.prior_
    greedy = conflict_only.select(loc, labelled, pool, 12, random_state=0)
    spread = [len({predicted[v] for v in chosen["video_id"]}) for chosen in (balanced, greedy)]
    assert spread[0] > spread[1]  # balanced: nearly one video per class; by conflict alone: what conflicts most
    # Utilities at each pick: the conflict over 1 + the labelled and already-picked videos of its class.
    counts = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
    counts = counts.reindex(loc.classes_).fillna(0).to_numpy()
    utilities = mcle.utilities(loc, labelled, pool)
    first = pool.video_ids.index(balanced["video_id"].iloc[0])
    assert balanced["utility"].iloc[0] == pytest.approx(utilities.max()) and utilities[first] == utilities.max()
    conflict = utilities[first] * (1 + counts[predicted[pool.video_ids[first]]])
    assert conflict == pytest.approx(np.abs(mcle.prior_.attention_scores(pool)[pool.video_ids[first]]
                                            - loc.attention_scores(pool)[pool.video_ids[first]]).mean())


def test_mcle_per_second_picks_shorter_videos(data, fitted):
    loc, labelled, pool = fitted
    cheap = ready("mcle-per-second", data).select(loc, labelled, pool, 12, random_state=0)
    plain = ready("mcle", data).select(loc, labelled, pool, 12, random_state=0)
    assert pool.durations().loc[cheap["video_id"]].mean() < pool.durations().loc[plain["video_id"]].mean()


def test_video_means_match_numpy_per_video():
    from activeloc.active.histograms import video_means

    rng = np.random.default_rng(0)
    scores = {f"v{i}": rng.random(rng.integers(0, 6)) for i in range(30)}
    order = list(scores)[::-1]
    expected = [scores[v].mean() if len(scores[v]) else np.nan for v in order]
    np.testing.assert_allclose(video_means(scores, order), expected, rtol=1e-12)
    squares = [np.mean(scores[v] ** 2) if len(scores[v]) else np.nan for v in order]
    np.testing.assert_allclose(video_means(scores, order, square=True), squares, rtol=1e-12)
