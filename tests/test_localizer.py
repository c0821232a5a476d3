import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from activeloc import evaluate_detections, make_activitynet_like, make_splits
from activeloc.data.annotations import GroundTruth
from activeloc.data.dataset import Dataset
from activeloc.localization.encoding import CandidateError, candidate_matrix
from activeloc.localization.localizer import StageWiseLocalizer


@pytest.fixture(scope="module")
def small():
    gt, feats = make_activitynet_like(700, 8, feature_dim=24, random_state=1, hard_video_fraction=0,
                                      outlier_fraction=0, label_noise=0)
    ids = gt.video_ids
    ds = Dataset(gt, feats)
    return ds.subset(ids[:500]), ds.subset(ids[500:])


@pytest.fixture(scope="module")
def fitted(small):
    train, _ = small
    return StageWiseLocalizer(random_state=0).fit(train)


def test_recovers_planted_actions(small, fitted):
    _, test = small
    det = fitted.predict(test)
    assert set(det.columns) == {"video_id", "t_start", "t_end", "label", "score"}
    got = evaluate_detections(test.instances, det, [0.5]).mAP[0]
    rng = np.random.default_rng(0)
    # A model that learned nothing: as many random candidate windows, random classes and scores.
    cm = candidate_matrix(test, fitted.proposals, fitted.encoder)
    rows, owner = cm.rows(test.video_ids)
    pick = rng.choice(len(rows), len(det), replace=False)
    blind = pd.DataFrame({"video_id": np.asarray(test.video_ids)[owner[pick]],
                          "t_start": cm.segments[rows[pick], 0], "t_end": cm.segments[rows[pick], 1],
                          "label": rng.choice(fitted.classes_, len(det)), "score": rng.random(len(det))})
    chance = evaluate_detections(test.instances, blind, [0.5]).mAP[0]
    # The same detections with their scores shuffled: right segments, no ranking.
    shuffled = evaluate_detections(test.instances, det.assign(score=rng.permutation(det["score"].to_numpy())), [0.5]).mAP[0]
    assert got > 0.35 and got > 4 * chance and got > shuffled + 0.1


def test_deterministic_for_a_seed(small, fitted):
    train, test = small
    again = StageWiseLocalizer(random_state=0).fit(train)
    pd.testing.assert_frame_equal(fitted.predict(test), again.predict(test))
    np.testing.assert_array_equal(fitted.state()["coef"], again.state()["coef"])


def test_exposes_attention_posteriors_and_state(small, fitted):
    _, test = small
    scores = fitted.attention_scores(test.without_labels())
    cm = candidate_matrix(test, fitted.proposals, fitted.encoder)
    vid = test.video_ids[0]
    rows = slice(cm.offsets[cm.position[vid]], cm.offsets[cm.position[vid] + 1])
    # Platt's sigmoid of the SVM's decision values, by hand from the features.
    decision = cm.features[rows].astype(float) @ fitted.coef_.astype(float) + fitted.intercept_
    a, b = fitted.platt_
    np.testing.assert_allclose(scores[vid], 1 / (1 + np.exp(-(a * decision + b))), rtol=1e-4)
    assert a > 0  # a higher SVM score means more likely an action
    post = fitted.class_posteriors(test)
    assert post[vid].shape == (fitted.top_k, len(fitted.classes_))
    np.testing.assert_allclose(post[vid].sum(axis=1), 1.0, rtol=1e-6)
    state = fitted.state()
    assert state["coef"].shape == (cm.features.shape[1],) and state["n_training_videos"] == 500
    assert 0 < state["positive_fraction"] < 1


def test_standardisation_is_fitted_on_the_training_videos_only(small, fitted):
    """The mean and spread come from the training videos' candidates; other videos sharing the
    candidate matrix (pool, Testing) change nothing in the fit."""
    train, test = small
    cm = candidate_matrix(train, fitted.proposals, fitted.encoder)
    rows, _ = cm.rows(train.video_ids)
    np.testing.assert_allclose(fitted.mean_, cm.features[rows].mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fitted.scale_, cm.features[rows].astype(float).std(axis=0), rtol=1e-4)
    alone = Dataset(train.ground_truth, train.features, train.video_ids)  # a universe of the training videos
    refit = StageWiseLocalizer(random_state=0).fit(alone)
    np.testing.assert_allclose(refit.mean_, fitted.mean_, rtol=1e-6)
    np.testing.assert_allclose(refit.coef_, fitted.coef_, rtol=1e-5, atol=1e-7)
    pd.testing.assert_frame_equal(refit.predict(test), fitted.predict(test))


def test_clones_and_params_follow_scikit_learn(fitted):
    from sklearn.base import clone

    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "coef_")
    assert isinstance(fitted.convergence_warnings_, int)


def test_score_modes_and_nms(small, fitted):
    from sklearn.base import clone

    _, test = small
    model = clone(fitted)
    model.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})  # the same fit
    base = model.set_params(nms_tiou=None).predict(test)
    wide = model.set_params(classes_per_video=2).predict(test)
    assert len(wide) == 2 * len(base)
    nms = model.set_params(classes_per_video=1, nms_tiou=0.3).predict(test)
    assert len(nms) < len(base)
    attention_only = model.set_params(nms_tiou=None, score_mode="attention").predict(test)
    top = model.attend(test)
    np.testing.assert_allclose(np.sort(attention_only["score"]), np.sort(top["attention"]))


def test_warm_start_refit_after_new_videos(small):
    train, test = small
    ids = train.video_ids
    loc = StageWiseLocalizer(warm_start=True, random_state=0).fit(train.subset(ids[:300]))
    first, scale = loc.svm_, loc.scale_
    loc.fit(train.subset(ids))
    assert loc.svm_ is first and loc.n_training_videos_ == 500  # the same solver, warm-started
    assert loc.scale_ is scale  # in the space its weights were learned in
    assert evaluate_detections(test.instances, loc.predict(test), [0.5]).mAP[0] > 0.3


def test_clear_errors(small):
    train, test = small
    with pytest.raises(NotFittedError):
        StageWiseLocalizer().predict(test)
    gt = train.ground_truth
    videos = pd.concat([gt.videos, pd.DataFrame({"subset": ["training"], "duration": [0.0]},
                                                index=pd.Index(["empty"], name="video_id"))])
    feats = train.features
    feats.features["empty"] = np.zeros((1, feats.feature_dim), np.float32)
    feats.durations["empty"] = 0.0
    ds = Dataset(GroundTruth(videos, gt.instances), feats)
    with pytest.raises(CandidateError, match="'empty'.*no candidate segments"):
        StageWiseLocalizer().fit(ds.subset(["empty"] + ids_of(train)))
    no_features = Dataset(GroundTruth(videos.rename(index={"empty": "ghost"}), gt.instances), feats)
    with pytest.raises(CandidateError, match="'ghost'.*no features"):
        StageWiseLocalizer().fit(no_features)


def ids_of(ds):
    return list(ds.video_ids[:50])


@pytest.mark.slow
def test_calibrated_difficulty_on_splits():
    """A mid-sized simulated set: the detector lands in the issue's bands (full and 10 %)."""
    gt, feats = make_activitynet_like(4000, 60, feature_dim=32, random_state=2)
    splits = make_splits(gt, random_state=0)
    ds = Dataset(gt, feats, list(splits.index), splits)
    sel, test = ds.split("selection"), ds.split("testing")
    full = evaluate_detections(test.instances, StageWiseLocalizer(random_state=0).fit(sel).predict(test))
    assert 0.1 < full.average_mAP < 0.45
