import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from activeloc.active.lal import (FEATURE_NAMES, STATE_FEATURES, LALSelector, _one_state,
                                  cross_validated_predictions, fit_regressor, monte_carlo, monte_carlo_summary,
                                  pair_features, regressor_comparison, repeatability_summary, state_targets,
                                  target_repeatability, within_state_spearman)
from activeloc.evaluation.detection import attention_map
from activeloc.localization.localizer import StageWiseLocalizer
from conftest import simulated_dataset

SMALL = {"n_states": 6, "probes_per_state": 4}


@pytest.fixture(scope="module")
def knowledge():
    return simulated_dataset(seed=3, n=1400).split("knowledge_source")


def test_a_state_is_built_as_the_loop_builds_it(knowledge):
    """Gains are mAP differences of refits with one probe added; features are pair_features over
    the state's whole unlabelled pool, the function a selection calls."""
    ids = knowledge.video_ids
    labelled, pool, evaluation = ids[:40], ids[40:100], knowledge.subset(ids[-60:])
    probes = [pool[5], pool[17], pool[30]]
    template = StageWiseLocalizer(top_k=8)
    rows = _one_state(knowledge, labelled, pool, probes, evaluation, template, seed=7, state=0)
    base = clone(template).set_params(random_state=7).fit_attention(knowledge.subset(labelled))
    added = clone(template).set_params(random_state=7).fit_attention(knowledge.subset(labelled + [probes[1]]))
    by_hand = attention_map(added, evaluation) - attention_map(base, evaluation)
    assert rows["gain"].iloc[1] == pytest.approx(by_hand, abs=1e-9)  # a warm refit is the cold fit
    everything = pair_features(base, knowledge.subset(pool).without_labels())
    np.testing.assert_array_equal(rows[FEATURE_NAMES].to_numpy(), everything[[5, 17, 30]])
    assert rows["labelled_ratio"].iloc[0] == pytest.approx(40 / 100)
    assert rows["gain"].abs().max() > 0  # the probes do change the model
    assert not hasattr(template, "coef_")  # the template is cloned, never fitted


def test_a_gain_is_the_same_bit_for_bit_whatever_else_is_probed(knowledge):
    ids = knowledge.video_ids
    labelled, pool, evaluation = ids[:30], ids[30:90], knowledge.subset(ids[-50:])
    template = StageWiseLocalizer()
    first = _one_state(knowledge, labelled, pool, [pool[0], pool[1], pool[2]], evaluation, template, 3, 0)
    again = _one_state(knowledge, labelled, pool, [pool[9], pool[2]], evaluation, template, 3, 0)
    assert first["gain"].iloc[2] == again["gain"].iloc[1]
    assert (first[FEATURE_NAMES].iloc[2] == again[FEATURE_NAMES].iloc[1]).all()


def test_monte_carlo_is_deterministic_and_covers_the_labelled_ratios(knowledge):
    data = monte_carlo(knowledge, n_states=5, probes_per_state=3, random_state=4)
    pd.testing.assert_frame_equal(data, monte_carlo(knowledge, n_states=5, probes_per_state=3, random_state=4),
                                  check_exact=True)
    assert len(data) == 15 and data.groupby("state").size().eq(3).all()
    ratios = data.groupby("state")["labelled_ratio"].first().to_numpy()
    pool = (data["labelled"] / data["labelled_ratio"]).round().unique()
    assert len(pool) == 1  # every state's labelled and unlabelled videos make up one pool
    # Stratified over 10 % to 100 %: one state in each fifth (the last keeps its probes unlabelled).
    assert np.all((ratios >= 0.1 - 1 / pool[0]) & (ratios <= 1.0)) and len(np.unique(np.floor(ratios * 5))) >= 4
    assert not data.duplicated(["state", "video_id"]).any()
    np.testing.assert_array_equal(data["target"], state_targets(data["gain"], data["state"]))


def test_state_targets_hand_cases():
    gains, states = [0.3, 0.1, 0.2, 5.0, 5.0, -1.0], [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(state_targets(gains, states), [1 / 3, -1 / 3, 0, 1 / 6, 1 / 6, -1 / 3])
    z = state_targets(gains, states, "zscore")
    np.testing.assert_allclose(z[:3], [1, -1, 0], atol=1e-12)
    np.testing.assert_allclose(z[3:], np.array([2, 2, -4]) / np.std([5, 5, -1], ddof=1))
    np.testing.assert_array_equal(state_targets([0.2, 0.2], [0, 0], "zscore"), [0, 0])
    with pytest.raises(ValueError, match="target must be one of"):
        state_targets(gains, states, "raw")


def test_a_deep_copy_of_a_localizer_refits_as_a_cold_fit(knowledge):
    ids = knowledge.video_ids
    base = StageWiseLocalizer().fit_attention(knowledge.subset(ids[:50]))
    coef = base.coef_.copy()
    warm = copy.deepcopy(base).fit_attention(knowledge.subset(ids[:51]))
    cold = StageWiseLocalizer().fit_attention(knowledge.subset(ids[:51]))
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-5, atol=1e-7)
    assert warm.platt_ == pytest.approx(cold.platt_)
    np.testing.assert_array_equal(base.coef_, coef)  # the original is untouched
    assert base.statistics_.groups["positive"].n < warm.statistics_.groups["positive"].n or \
        base.statistics_.groups["negative"].n < warm.statistics_.groups["negative"].n


def test_lal_bootstrap_saves_loads_and_is_deterministic(knowledge, fitted, tmp_path):
    lal = LALSelector(**SMALL, random_state=0).fit(knowledge)
    assert len(lal.training_data_) == 24 and np.isfinite(lal.r2_)
    assert -1 <= lal.within_state_spearman_ <= 1
    assert set(lal.feature_importances_["feature"]) == set(FEATURE_NAMES)
    assert lal.save(tmp_path / "lal.joblib") == (tmp_path / "lal.joblib").stat().st_size
    loaded = LALSelector.load(tmp_path / "lal.joblib")
    np.testing.assert_allclose(loaded.utilities(*fitted), lal.utilities(*fitted))
    again = LALSelector(**SMALL, random_state=0).fit(knowledge)
    pd.testing.assert_frame_equal(again.training_data_, lal.training_data_, check_exact=True)


def test_lal_takes_any_random_state(knowledge):
    for state in (None, np.random.RandomState(3)):
        lal = LALSelector(n_states=5, probes_per_state=2, random_state=state).fit(knowledge)
        assert len(lal.training_data_) == 10


def test_unfitted_lal_is_a_clear_error(fitted):
    with pytest.raises(NotFittedError, match="fit\\(knowledge_source\\)"):
        LALSelector().select(*fitted, 4)


def test_too_small_a_knowledge_source_is_a_clear_error(knowledge):
    with pytest.raises(ValueError, match="too few"):
        monte_carlo(knowledge.subset(knowledge.video_ids[:30]), n_states=2, probes_per_state=25)
    with pytest.raises(ValueError, match="labelled_ratios"):
        monte_carlo(knowledge, n_states=2, labelled_ratios=(0.5, 0.2))


@pytest.mark.slow
def test_the_forest_regressor_on_monte_carlo_data(knowledge):
    data = monte_carlo(knowledge, n_states=8, probes_per_state=4, random_state=1)
    fitted = fit_regressor(data, "forest")
    assert np.isfinite(fitted["r2"]) and "min_samples_leaf" in fitted["best_params"]


def test_an_unknown_regressor_is_an_error(knowledge):
    with pytest.raises(ValueError, match="svr"):
        fit_regressor(synthetic_monte_carlo(60), "boosting")
    with pytest.raises(ValueError, match="svr"):
        LALSelector(regressor="boosting").fit(knowledge)


def synthetic_monte_carlo(n=300, seed=0):
    """Monte-Carlo-shaped data whose target is 3 x the video's mean score plus a little noise."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.standard_normal((n, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    return data.assign(target=3 * data["score_mean"] + 0.01 * rng.standard_normal(n),
                       labelled=rng.choice([20, 50, 100, 200], n), video_id=[f"v{i}" for i in range(n)],
                       state=np.arange(n) // 6)


def test_feature_names_label_the_pair_features(knowledge):
    rows = monte_carlo(knowledge, n_states=2, probes_per_state=2, random_state=0)
    assert list(rows.columns[: len(FEATURE_NAMES)]) == FEATURE_NAMES
    hist = rows[[f"score_histogram_{i}" for i in range(10)]].to_numpy()
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)  # the video part really is its score histogram
    assert (rows["log_candidates"] > 0).all()


def test_held_out_diagnostics_find_the_feature_the_target_depends_on():
    fitted = fit_regressor(synthetic_monte_carlo(), "svr")
    importances = fitted["importances"]
    assert importances.loc[0, "feature"] == "score_mean" and importances.loc[0, "group"] == "video"
    assert importances.loc[0, "importance_mean"] > 0.5 > importances.loc[1:, "importance_mean"].abs().max() * 10
    assert fitted["r2"] > 0.8 and fitted["within_state_spearman"] > 0.8
    predictions = cross_validated_predictions(synthetic_monte_carlo(), LinearRegression())
    np.testing.assert_allclose(predictions["predicted"], predictions["target"], atol=0.1)
    assert within_state_spearman(predictions) > 0.95


def test_within_state_spearman_hand_case():
    predictions = pd.DataFrame({"state": [0, 0, 0, 1, 1, 1], "target": [1, 2, 3, 1, 2, 3],
                                "predicted": [10, 20, 30, 3, 2, 1]})
    assert within_state_spearman(predictions) == pytest.approx(0.0)  # +1 in one state, -1 in the other
    assert within_state_spearman(predictions.assign(predicted=[5, 6, 7, 7, 8, 9])) == pytest.approx(1.0)
    assert within_state_spearman(predictions.assign(predicted=[5, 6, 7, 1, 1, 1])) == pytest.approx(1.0)


@pytest.mark.slow
def test_held_out_r2_is_split_by_state():
    """A target that is only the state's own constant: seen states are remembered perfectly, but on
    held-out states nothing can be predicted, and the R2 must say so."""
    rng = np.random.default_rng(1)
    data = synthetic_monte_carlo(600)
    state = rng.standard_normal(data["state"].max() + 1)
    data[STATE_FEATURES] = np.repeat(rng.standard_normal((len(state), len(STATE_FEATURES))), 6, axis=0)
    data["target"] = state[data["state"]]
    assert fit_regressor(data, "forest")["r2"] < 0.1  # a split by row would score near 1 here


def test_monte_carlo_summary_by_labelled_size():
    data = pd.DataFrame({"labelled": [10, 10, 10, 90, 90, 90], "gain": [0.1, -0.1, 0.3, 0.0, -0.2, 0.05]})
    summary = monte_carlo_summary(data, bins=2)
    assert summary["samples"].tolist() == [3, 3]
    assert summary["mean_gain"].to_numpy() == pytest.approx([0.1, -0.05])
    assert summary["share_positive"].to_numpy() == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.slow
def test_regressor_comparison_on_learnable_targets():
    compared = regressor_comparison(synthetic_monte_carlo(120), ["forest"])
    assert compared["regressor"].tolist() == ["forest"] and compared.loc[0, "held_out_r2"] > 0.5
    assert compared.loc[0, "within_state_spearman"] > 0.5


def test_repeatability_summary_hand_cases():
    videos = pd.DataFrame({"state": 0, "video_id": ["a", "b", "c", "d"], "labelled": 50})
    own = pd.concat([videos.assign(seed=s, target=[0.01, 0.02, 0.03, 0.05]) for s in range(3)])
    summary = repeatability_summary(own).iloc[0]
    assert summary["icc"] == pytest.approx(1.0) and summary["within_std"] == pytest.approx(0.0)
    assert summary["probes"] == 4 and summary["seeds"] == 3
    assert summary["between_std"] == pytest.approx(np.std([-0.0175, -0.0075, 0.0025, 0.0225], ddof=1))
    # Every candidate has the same mean gain: all the spread is the refit's.
    noise = pd.concat([videos.assign(seed=s, target=np.roll([0.01, -0.01, 0.02, -0.02], s)) for s in range(4)])
    summary = repeatability_summary(noise).iloc[0]
    assert summary["between_std"] == pytest.approx(0.0) and summary["icc"] < 0


def test_target_repeatability_refits_the_same_pairs_under_each_seed(knowledge):
    targets = target_repeatability(knowledge, n_states=2, probes_per_state=3, seeds=(0, 5))
    assert len(targets) == 12 and set(targets["seed"]) == {0, 5}
    by_seed = {seed: part.drop(columns="seed").reset_index(drop=True) for seed, part in targets.groupby("seed")}
    # The same states and probes; with the exact stages the seed changes nothing, bit for bit.
    pd.testing.assert_frame_equal(by_seed[0], by_seed[5], check_exact=True)
    paper = target_repeatability(knowledge, n_states=1, probes_per_state=3, seeds=(0, 5),
                                 localizer=StageWiseLocalizer(stages="paper", svm_max_iter=5))
    targets = [part["target"].to_numpy() for _, part in paper.groupby("seed")]
    assert not np.array_equal(*targets)  # the paper's stochastic fits do depend on it
