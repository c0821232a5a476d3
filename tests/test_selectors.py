"""Every registered selector, and every cost-aware variant, against the selector contract; then
what each selector is meant to do."""

import numpy as np
import pytest

from activeloc.active.base import Selector
from activeloc.active.baselines import UncertaintySelector
from activeloc.active.checks import CHECKS, check_selector
from activeloc.active.histograms import entropies, histogram_entropy, score_histograms
from activeloc.active.mcle import MCLESelector
from activeloc.active.registry import base_selector_name, make_selector, partner_of, selector_names, wrap_selector
from activeloc.data.dataset import LabelBlindError

# Small bootstraps, so that learned selectors are fitted in seconds; any other selector uses its defaults.
FAST = {"lal": {"n_states": 4, "probes_per_state": 4}}
_READY = {}


def ready(name, data):
    """The registered selector ``name``, fitted on Knowledge-Source if it learns (once per session)."""
    base = base_selector_name(name)
    if base not in _READY:
        selector = make_selector(base, **FAST.get(base, {}))
        if hasattr(selector, "fit"):
            selector.fit(data.split("knowledge_source"))
        _READY[base] = selector
    return wrap_selector(name, _READY[base])


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
    bases = {"random", "uncertainty", "mcle", "lal", "mcle-conflict-only", "mcle-label-equality-only"}
    assert set(selector_names(cost_aware=False, diverse=False)) == bases
    assert set(selector_names()) == {f"{b}{v}" for b in bases for v in ("", "-diverse", "-per-second",
                                                                         "-diverse-per-second")}
    both = make_selector("mcle-diverse-per-second", balance=2.0)
    assert both.name == "mcle-diverse-per-second" and both.selector.selector.balance == 2.0
    with pytest.raises(ValueError, match="unknown selector 'foo-per-second'"):
        make_selector("foo-per-second")
    with pytest.raises(ValueError, match="unknown selector 'lal-per-second-diverse'.*'<name>-diverse-per-second'"):
        make_selector("lal-per-second-diverse")
    # What each name is compared with: the selector a variant wraps, the one an ablation ablates, else Random.
    assert [partner_of(n) for n in ("uncertainty-diverse", "lal-diverse-per-second", "mcle-conflict-only",
                                    "mcle-label-equality-only", "mcle", "random")] == [
        "uncertainty", "lal-diverse", "mcle", "mcle", "random", "random"]
    with pytest.raises(ValueError, match="unknown selector 'foo'"):
        partner_of("foo")


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


@pytest.fixture(scope="module")
def old_world():
    """The session's dataset in the world before the heterogeneity knobs, where conflict alone
    concentrates a batch on few classes (in the default world it already spreads it), and a
    localizer fitted on 100 of its Selection videos, as ``fitted``."""
    from activeloc import StageWiseLocalizer
    from activeloc.data.simulator import world_params
    from conftest import simulated_dataset

    data = simulated_dataset(**world_params("all", "off"))
    sel = data.split("selection")
    labelled = sel.subset(sel.video_ids[:100])
    pool = sel.subset(sel.video_ids[100:]).without_labels()
    return data, (StageWiseLocalizer(random_state=0).fit(labelled), labelled, pool)


def test_mcle_label_equality_spreads_a_batch_over_classes(old_world):
    data, (loc, labelled, pool) = old_world
    mcle = ready("mcle", data)
    predicted = dict(zip(pool.video_ids, loc.video_class_probabilities(pool).argmax(axis=1)))
    balanced = mcle.select(loc, labelled, pool, 12, random_state=0)
    greedy = ready("mcle-conflict-only", data).select(loc, labelled, pool, 12, random_state=0)
    spread = [len({predicted[v] for v in chosen["video_id"]}) for chosen in (balanced, greedy)]
    assert spread[0] > spread[1]  # balanced: nearly one video per class; by conflict alone: what conflicts most
    # Utilities at each pick: d(v) over 1 + the labelled and already-picked videos of its class, with
    # d(v) from the two models' attention written out literally for the first pick.
    counts = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
    counts = counts.reindex(loc.classes_).fillna(0).to_numpy(dtype=float, copy=True)
    utilities = mcle.utilities(loc, labelled, pool)
    first = balanced["video_id"].iloc[0]
    assert balanced["utility"].iloc[0] == pytest.approx(utilities.max())
    assert utilities[pool.video_ids.index(first)] == utilities.max()
    p, q = loc.attention_scores(pool)[first], mcle.prior_.attention_scores(pool)[first]
    attended = sorted(set(np.argsort(-p, kind="stable")[:loc.top_k]) | set(np.argsort(-q, kind="stable")[:loc.top_k]))
    d = (1 + np.mean([-(2 * p[c] - 1) * (2 * q[c] - 1) for c in attended])) / 2
    assert utilities.max() == pytest.approx(d / (1 + counts[predicted[first]]))
    for pick in balanced.itertuples():  # each pick's reported utility as the rule gives it
        shown = mcle.conflict(loc, pool.subset([pick.video_id]))[0]
        assert pick.utility == pytest.approx((1 + shown) / 2 / (1 + counts[predicted[pick.video_id]]))
        counts[predicted[pick.video_id]] += 1


class _Attention:
    """A stand-in localizer with fixed attention probabilities."""

    def __init__(self, scores, top_k):
        self.scores, self.top_k = scores, top_k

    def attention_scores(self, pool):
        return {v: np.asarray(self.scores[v]) for v in pool.video_ids}


def test_mcle_conflict_hand_case():
    """Signed and confidence-weighted, over the candidates in either model's top-k: where the two
    confidently disagree it is near 1, where they confidently agree near -1, unsure candidates 0."""
    from types import SimpleNamespace

    current = _Attention({"a": [0.9, 0.1, 0.5], "b": [0.9, 0.1], "c": [0.5, 0.5]}, top_k=1)
    mcle = MCLESelector()
    mcle.prior_ = _Attention({"a": [0.1, 0.1, 0.6], "b": [0.9, 0.1], "c": [0.99, 0.5]}, top_k=1)
    got = mcle.conflict(current, SimpleNamespace(video_ids=["a", "b", "c"]))
    # a: candidates 0 (current's top) and 2 (prior's): (0.64 + -(0.0)(0.2)) / 2; b: both pick 0.
    np.testing.assert_allclose(got, [0.32, -0.64, 0.0])


def test_mcle_ablations_use_one_term_each(data, fitted):
    loc, labelled, pool = fitted
    conflict_only, equality_only = ready("mcle-conflict-only", data), ready("mcle-label-equality-only", data)
    d = (1 + conflict_only.conflict(loc, pool)) / 2
    np.testing.assert_allclose(conflict_only.utilities(loc, labelled, pool), d)
    chosen = conflict_only.select(loc, labelled, pool, 10, random_state=0)
    assert chosen["utility"].to_numpy() == pytest.approx(np.sort(d)[::-1][:10])
    predicted = loc.video_class_probabilities(pool).argmax(axis=1)
    counts = labelled.instances.drop_duplicates(["video_id", "label"])["label"].value_counts()
    counts = counts.reindex(loc.classes_).fillna(0).to_numpy(dtype=float, copy=True)
    np.testing.assert_allclose(equality_only.utilities(loc, labelled, pool), 1 / (1 + counts[predicted]))
    picks = equality_only.select(loc, labelled, pool, 10, random_state=0)
    left = dict(zip(pool.video_ids, predicted))
    for pick in picks.itertuples():  # each pick from a least-labelled predicted class still in the pool
        assert pick.utility == pytest.approx(max(1 / (1 + counts[k]) for k in left.values()))
        counts[left.pop(pick.video_id)] += 1


def test_mcle_warm_starts_the_loops_localizer_from_its_prior(data, tmp_path):
    from activeloc import StageWiseLocalizer
    from activeloc.active.loop import ActiveLearningLoop, read_checkpoint
    from activeloc.active.oracles import SimulatedOracle

    mcle = ready("mcle", data)
    template = StageWiseLocalizer(top_k=10)
    warm = mcle.warm_start_localizer(template)
    assert template.attention_prior is None and not hasattr(warm, "coef_")
    np.testing.assert_array_equal(warm.attention_prior, mcle.prior_.coef_)
    assert warm.attention_prior_strength == mcle.prior_.n_training_videos_
    cold = MCLESelector(prior_strength=0)
    cold.prior_ = mcle.prior_
    assert cold.warm_start_localizer(template) is template
    assert make_selector("random").warm_start_localizer(template) is template
    assert wrap_selector("mcle-diverse-per-second", mcle).warm_start_localizer(template).attention_prior is not None
    sel = data.split("selection")
    path = tmp_path / "run.ckpt"
    ActiveLearningLoop(template, mcle, SimulatedOracle(sel.ground_truth), batch_size=32, max_steps=2,
                       checkpoint=path).run(sel, data.split("testing"), progress=False)
    fitted = read_checkpoint(path).localizer
    np.testing.assert_array_equal(fitted.attention_prior, mcle.prior_.coef_)
    assert hasattr(fitted, "coef_") and not np.allclose(fitted.coef_, mcle.prior_.coef_)


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
