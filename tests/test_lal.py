import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from activeloc.active.lal import (FEATURE_NAMES, STATE_FEATURES, LALSelector, _one_subset,
                                  cross_validated_predictions, feature_importances, fit_regressor, monte_carlo,
                                  monte_carlo_summary, pair_features, regressor_comparison, repeatability_summary,
                                  target_repeatability, within_subset_ranking)
from activeloc.evaluation.detection import attention_map
from activeloc.localization.localizer import StageWiseLocalizer
from conftest import simulated_dataset


@pytest.fixture(scope="module")
def knowledge():
    return simulated_dataset(seed=3, n=1400).split("knowledge_source")


def test_monte_carlo_targets_are_map_differences_of_refits(knowledge):
    ids = knowledge.video_ids
    labelled, probes, evaluation = ids[:40], ids[40:43], knowledge.subset(ids[-60:])
    template = StageWiseLocalizer(top_k=8)
    rows = _one_subset(knowledge, labelled, probes, evaluation, template, seed=7, subset=0)
    base = StageWiseLocalizer(top_k=8, random_state=7).fit_attention(knowledge.subset(labelled))
    added = StageWiseLocalizer(top_k=8, random_state=7).fit_attention(knowledge.subset(labelled + [probes[1]]))
    by_hand = attention_map(added, evaluation) - attention_map(base, evaluation)
    assert rows["target"].iloc[1] == pytest.approx(by_hand, abs=1e-12)
    np.testing.assert_allclose(rows[FEATURE_NAMES].to_numpy(),
                               pair_features(base, knowledge.subset(probes)))
    assert rows["target"].abs().max() > 0  # the probes do change the model
    assert not hasattr(template, "coef_")  # the template is cloned, never fitted


def test_lal_bootstrap_saves_loads_and_is_deterministic(knowledge, fitted, tmp_path):
    lal = LALSelector(n_subsets=6, subset_sizes=(20, 60), probes_per_subset=4, random_state=0).fit(knowledge)
    assert len(lal.training_data_) == 24 and np.isfinite(lal.r2_)
    assert lal.save(tmp_path / "lal.joblib") == (tmp_path / "lal.joblib").stat().st_size
    loaded = LALSelector.load(tmp_path / "lal.joblib")
    np.testing.assert_allclose(loaded.utilities(*fitted), lal.utilities(*fitted))
    again = LALSelector(n_subsets=6, subset_sizes=(20, 60), probes_per_subset=4, random_state=0).fit(knowledge)
    pd.testing.assert_frame_equal(again.training_data_, lal.training_data_)


def test_lal_takes_any_random_state(knowledge):
    for state in (None, np.random.RandomState(3)):
        lal = LALSelector(n_subsets=5, subset_sizes=(20, 30), probes_per_subset=2, random_state=state).fit(knowledge)
        assert len(lal.training_data_) == 10


def test_unfitted_lal_is_a_clear_error(fitted):
    with pytest.raises(NotFittedError, match="fit\\(knowledge_source\\)"):
        LALSelector().select(*fitted, 4)


def test_too_small_a_knowledge_source_is_a_clear_error(knowledge):
    with pytest.raises(ValueError, match="too few"):
        monte_carlo(knowledge.subset(knowledge.video_ids[:30]), n_subsets=2, subset_sizes=(20, 40))


@pytest.mark.slow
def test_the_forest_regressor_on_monte_carlo_data(knowledge):
    data = monte_carlo(knowledge, n_subsets=4, subset_sizes=(20, 40), probes_per_subset=3, random_state=1)
    model, r2, params = fit_regressor(data, "forest")
    assert np.isfinite(r2) and "min_samples_leaf" in params


def test_an_unknown_regressor_is_an_error():
    with pytest.raises(ValueError, match="svr"):
        fit_regressor(synthetic_monte_carlo(60), "boosting")


def synthetic_monte_carlo(n=300, seed=0):
    """Monte-Carlo-shaped data whose target is 3 x the video's mean score plus a little noise."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.standard_normal((n, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    return data.assign(target=3 * data["score_mean"] + 0.01 * rng.standard_normal(n),
                       labelled=rng.choice([20, 50, 100, 200], n), video_id=[f"v{i}" for i in range(n)],
                       subset=np.arange(n) // 6)


def test_feature_names_label_the_pair_features(knowledge):
    rows = monte_carlo(knowledge, n_subsets=2, subset_sizes=(20, 30), probes_per_subset=2, random_state=0)
    assert list(rows.columns[: len(FEATURE_NAMES)]) == FEATURE_NAMES
    hist = rows[[f"score_histogram_{i}" for i in range(10)]].to_numpy()
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)  # the video part really is its score histogram
    assert (rows["log_labelled_videos"] == np.log1p(rows["labelled"])).all()


def test_importances_find_the_feature_the_target_depends_on():
    data = synthetic_monte_carlo()
    importances = feature_importances(data, LinearRegression(), n_repeats=3)
    assert importances.loc[0, "feature"] == "score_mean" and importances.loc[0, "group"] == "video"
    assert importances.loc[0, "importance_mean"] > 1 > importances.loc[1:, "importance_mean"].abs().max() * 100
    predictions = cross_validated_predictions(data, LinearRegression())
    assert len(predictions) == len(data)
    np.testing.assert_allclose(predictions["predicted"], data["target"], atol=0.1)
    assert within_subset_ranking(predictions) > 0.95


def test_within_subset_ranking_hand_case():
    predictions = pd.DataFrame({"subset": [0, 0, 0, 1, 1, 1], "target": [1, 2, 3, 1, 2, 3],
                                "predicted": [10, 20, 30, 3, 2, 1]})
    assert within_subset_ranking(predictions) == pytest.approx(0.0)  # +1 in one subset, -1 in the other
    assert within_subset_ranking(predictions.assign(predicted=[5, 6, 7, 7, 8, 9])) == pytest.approx(1.0)


@pytest.mark.slow
def test_held_out_r2_is_split_by_subset():
    """A target that is only the subset's own constant: seen subsets are remembered perfectly, but on
    held-out subsets nothing can be predicted, and the R2 must say so."""
    rng = np.random.default_rng(1)
    data = synthetic_monte_carlo(600)
    state = rng.standard_normal(data["subset"].max() + 1)
    data[STATE_FEATURES] = np.repeat(rng.standard_normal((len(state), len(STATE_FEATURES))), 6, axis=0)
    data["target"] = state[data["subset"]]
    _, r2, _ = fit_regressor(data, "forest")
    assert r2 < 0.1  # a split by row would score near 1 here

def test_monte_carlo_summary_by_labelled_size():
    data = pd.DataFrame({"labelled": [10, 10, 10, 90, 90, 90], "target": [0.1, -0.1, 0.3, 0.0, -0.2, 0.05]})
    summary = monte_carlo_summary(data, bins=2)
    assert summary["samples"].tolist() == [3, 3]
    assert summary["mean_gain"].to_numpy() == pytest.approx([0.1, -0.05])
    assert summary["share_positive"].to_numpy() == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.slow
def test_regressor_comparison_on_learnable_targets():
    compared = regressor_comparison(synthetic_monte_carlo(120), ["forest"])
    assert compared["regressor"].tolist() == ["forest"] and compared.loc[0, "held_out_r2"] > 0.5
    assert compared.loc[0, "within_subset_spearman"] > 0.5


def test_repeatability_summary_hand_cases():
    videos = pd.DataFrame({"subset": 0, "video_id": ["a", "b", "c", "d"], "labelled": 50})
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
    targets = target_repeatability(knowledge, n_subsets=2, subset_sizes=(30, 40), probes_per_subset=3,
                                   seeds=(0, 5))
    assert len(targets) == 12 and set(targets["seed"]) == {0, 5}
    pairs = targets.groupby("seed")[["subset", "video_id", "labelled"]].apply(lambda d: list(map(tuple, d.values)))
    assert pairs[0] == pairs[5]  # same subsets and probes, only the refit seed differs
    first = targets[(targets.subset == 0) & (targets.seed == 5)]
    ids = list(knowledge.video_ids)
    assert first["labelled"].iloc[0] in range(30, 41) and first["video_id"].isin(ids).all()
