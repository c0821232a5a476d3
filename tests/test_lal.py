import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from activeloc.lal import LALSelector, _one_subset, attention_map, fit_regressor, monte_carlo, pair_features
from activeloc.localizer import StageWiseLocalizer
from test_loop import check_selector_contract, tiny_data


@pytest.fixture(scope="module")
def knowledge():
    return tiny_data(seed=3, n=1400).split("knowledge_source")


def test_monte_carlo_targets_are_map_differences_of_refits(knowledge):
    ids = knowledge.video_ids
    labelled, candidates, evaluation = ids[:40], ids[40:43], knowledge.subset(ids[-60:])
    rows = _one_subset(knowledge, labelled, candidates, evaluation, {}, seed=7)
    base = StageWiseLocalizer(random_state=7).fit_attention(knowledge.subset(labelled))
    added = StageWiseLocalizer(random_state=7).fit_attention(knowledge.subset(labelled + [candidates[1]]))
    by_hand = attention_map(added, evaluation) - attention_map(base, evaluation)
    assert rows["target"].iloc[1] == pytest.approx(by_hand, abs=1e-12)
    np.testing.assert_allclose(rows.drop(columns=["target", "labelled", "video_id"]).to_numpy(),
                               pair_features(base, knowledge.subset(candidates)))
    assert rows["target"].abs().max() > 0  # the candidates do change the model


def test_lal_selector_bootstraps_saves_and_meets_the_contract(knowledge, tmp_path):
    lal = LALSelector(n_subsets=6, subset_sizes=(20, 60), candidates_per_subset=4, random_state=0).fit(knowledge)
    assert len(lal.training_data_) == 24 and np.isfinite(lal.r2_)
    size = lal.save(tmp_path / "lal.joblib")
    assert size > 0
    loaded = LALSelector.load(tmp_path / "lal.joblib")
    data = tiny_data()
    sel = data.split("selection")
    labelled, pool = sel.subset(sel.video_ids[:100]), sel.subset(sel.video_ids[100:])
    loc = StageWiseLocalizer(random_state=0).fit(labelled)
    np.testing.assert_allclose(loaded.utilities(loc, labelled, pool), lal.utilities(loc, labelled, pool))
    check_selector_contract((loc, labelled, pool), loaded)


def test_unfitted_lal_is_a_clear_error():
    data = tiny_data()
    sel = data.split("selection")
    loc = StageWiseLocalizer(random_state=0).fit(sel.subset(sel.video_ids[:100]))
    with pytest.raises(NotFittedError, match="fit\\(knowledge_source\\)"):
        LALSelector().select(loc, sel.subset(sel.video_ids[:100]), sel.subset(sel.video_ids[100:]), 4)


def test_regressor_choices(knowledge):
    data = monte_carlo(knowledge, n_subsets=4, subset_sizes=(20, 40), candidates_per_subset=3, random_state=1)
    model, r2, params = fit_regressor(data, "forest")
    assert np.isfinite(r2) and "min_samples_leaf" in params
    with pytest.raises(ValueError, match="svr"):
        fit_regressor(data, "boosting")
