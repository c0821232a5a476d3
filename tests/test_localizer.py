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
    # The calibration sigmoid of the attention's decision values, by hand from the features.
    decision = cm.features[rows].astype(float) @ fitted.coef_.astype(float) + fitted.intercept_
    a, b = fitted.platt_
    np.testing.assert_allclose(scores[vid], 1 / (1 + np.exp(-(a * decision + b))), rtol=1e-4)
    assert a > 0  # a higher decision value means more likely an action
    post = fitted.class_posteriors(test)
    assert post[vid].shape == (fitted.top_k, len(fitted.classes_))
    np.testing.assert_allclose(post[vid].sum(axis=1), 1.0, rtol=1e-6)
    state = fitted.state()
    assert state["coef"].shape == (cm.features.shape[1],) and state["n_training_videos"] == 500
    assert 0 < state["positive_fraction"] < 1


def test_attention_scores_of_any_videos_in_any_order_match_the_features(small):
    train, test = small
    model = StageWiseLocalizer().fit(train)
    cm = candidate_matrix(test, model.proposals, model.encoder)
    a, b = model.platt_

    def by_hand(vid):
        rows = slice(cm.offsets[cm.position[vid]], cm.offsets[cm.position[vid] + 1])
        return 1 / (1 + np.exp(-(a * (cm.features[rows].astype(float) @ model.coef_.astype(float) + model.intercept_) + b)))

    rng = np.random.default_rng(0)
    # A scattered few first (a partial cache), then a shuffled order, then one range in order.
    for ids in (list(test.video_ids[3:60:7]), list(rng.permutation(test.video_ids)), list(test.video_ids[10:40])):
        scores = model.attention_scores(test.subset(ids).without_labels())
        assert list(scores) == ids
        for vid in ids:
            np.testing.assert_allclose(scores[vid], by_hand(vid), rtol=1e-4, atol=1e-6)


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


def _decisions_and_posteriors(model, test):
    cm = candidate_matrix(test, model.proposals, model.encoder)
    rows, _ = cm.rows(test.video_ids)
    decision = cm.features[rows].astype(float) @ model.coef_.astype(float) + model.intercept_
    posteriors = np.concatenate(list(model.class_posteriors(test).values()))
    return decision, posteriors, np.asarray(model.platt_)


def _assert_same_model(a, b, test, tol=1e-6):
    for got, want in zip(_decisions_and_posteriors(a, test), _decisions_and_posteriors(b, test)):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    np.testing.assert_array_equal(a.classes_, b.classes_)


def test_exact_refits_equal_a_cold_fit_whatever_the_order(small):
    """Adding batches (warm) or fitting from scratch (cold), in any order of the videos: the same
    model to 1e-6 in decision values, calibration and class posteriors."""
    train, test = small
    ids = list(train.video_ids)
    cold = StageWiseLocalizer().fit(train)
    for seed in range(3):
        order = list(np.random.default_rng(seed).permutation(ids))
        cuts = np.sort(np.random.default_rng(seed + 10).choice(np.arange(40, 500), 4, replace=False))
        warm = StageWiseLocalizer()
        for cut in cuts:
            warm.fit(train.subset(order[:cut]))
        previous = warm.statistics_
        warm.fit(train.subset(order))
        assert warm.statistics_ is not previous and previous.fingerprints.size == cuts[-1]  # the old fit untouched
        _assert_same_model(warm, cold, test)


def test_exact_refit_starts_over_when_a_held_video_changes(small):
    """A refit reuses statistics only if every video they hold is still there with the same
    annotations: a video re-annotated, or dropped, gives the cold fit of the new set."""
    train, test = small
    ids = list(train.video_ids)
    model = StageWiseLocalizer().fit(train.subset(ids[:300]))
    gt = train.ground_truth
    moved = gt.instances.copy()
    first = moved.index[moved["video_id"] == ids[0]][0]
    moved.loc[first, "t_end"] = moved.loc[first, "t_start"] + 0.5 * (moved.loc[first, "t_end"] - moved.loc[first, "t_start"])
    relabelled = train.subset(ids[:400], ground_truth=GroundTruth(gt.videos, moved))
    model.fit(relabelled)
    _assert_same_model(model, StageWiseLocalizer().fit(relabelled), test)
    model.fit(train.subset(ids[100:450]))  # videos dropped
    _assert_same_model(model, StageWiseLocalizer().fit(train.subset(ids[100:450])), test)


def test_exact_stages_are_deterministic_and_ignore_the_seed(small, fitted):
    train, test = small
    other = StageWiseLocalizer(random_state=123).fit(train)
    pd.testing.assert_frame_equal(other.predict(test), fitted.predict(test))


def test_discriminant_classifier_by_hand(small, fitted):
    """The exact classifier's posteriors are those of linear discriminant analysis computed from
    the positives' rows directly (class means, pooled covariance shrunk towards its average
    variance, class-count priors), in the standardised space."""
    train, test = small
    cm = candidate_matrix(train, fitted.proposals, fitted.encoder)
    rows, owner, best, cls = cm.overlaps(list(train.video_ids), train.instances, fitted.classes_)
    pos = best > fitted.positive_tiou
    z = (cm.features[rows[pos]].astype(float) - fitted.mean_) / fitted.scale_
    y = cls[pos]
    labels = np.unique(y)
    means = np.array([z[y == k].mean(axis=0) for k in labels])
    centred = z - means[np.searchsorted(labels, y)]
    cov = centred.T @ centred / (len(z) - len(labels))
    gamma = fitted.classifier_shrinkage
    cov = (1 - gamma) * cov + gamma * np.trace(cov) / len(cov) * np.eye(len(cov))
    weights = np.linalg.solve(cov, means.T)
    priors = np.array([(y == k).mean() for k in labels])
    probe = cm.features[rows[:50]].astype(float)
    zp = (probe - fitted.mean_) / fitted.scale_
    scores = zp @ weights - 0.5 * np.einsum("kd,dk->k", means, weights) + np.log(priors)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    got = fitted._posteriors(cm.features[rows[:50]])[:, labels]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_paper_stages_remain_available(small):
    train, test = small
    paper = StageWiseLocalizer(stages="paper", classifier_rows="top_k", random_state=0).fit(train)
    assert evaluate_detections(test.instances, paper.predict(test), [0.5]).mAP[0] > 0.3
    with pytest.raises(ValueError, match="classifier_rows='top_k' needs stages='paper'"):
        StageWiseLocalizer(classifier_rows="top_k").fit(train)
    with pytest.raises(ValueError, match="stages must be one of"):
        StageWiseLocalizer(stages="sgd").fit(train)


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


def test_attention_warm_start_by_hand(small, fitted):
    """With ``attention_prior``, the attention weights solve the ridge toward the prior written out
    on the training candidates' rows (class-balanced least squares, free bias); strength 0 is the
    plain fit and a huge strength keeps the prior's weights."""
    train, _ = small
    rng = np.random.default_rng(0)
    prior = rng.normal(size=fitted.coef_.shape).astype(np.float32) * 0.01
    strength = 30.0
    warm = StageWiseLocalizer(attention_prior=prior, attention_prior_strength=strength).fit(train)
    cm = candidate_matrix(train, warm.proposals, warm.encoder)
    rows, owner, best, cls = cm.overlaps(list(train.video_ids), train.instances, warm.classes_)
    pos, neg = best > warm.positive_tiou, best < warm.negative_tiou
    z = (cm.features[rows[pos | neg]].astype(float) - warm.mean_) / warm.scale_
    t = pos[pos | neg].astype(float)
    u = np.where(t == 1, 0.5 / pos.sum(), 0.5 / neg.sum())
    x = np.hstack([z, np.ones((len(z), 1))])
    lam = strength / len(train.video_ids)
    penalty = np.diag(np.r_[np.full(z.shape[1], warm.attention_alpha + lam), 0.0])
    target = x.T @ (u * t) + np.r_[lam * prior * warm.scale_, 0.0]
    solution = np.linalg.solve(x.T @ (u[:, None] * x) + penalty, target)
    np.testing.assert_allclose(warm.coef_ * warm.scale_, solution[:-1], rtol=1e-4, atol=1e-6)
    assert warm.intercept_ == pytest.approx(solution[-1] - (solution[:-1] / warm.scale_) @ warm.mean_, abs=1e-5)

    cold = StageWiseLocalizer(attention_prior=prior, attention_prior_strength=0.0).fit(train)
    np.testing.assert_array_equal(cold.coef_, fitted.coef_)
    held = StageWiseLocalizer(attention_prior=prior, attention_prior_strength=1e12).fit(train)
    np.testing.assert_allclose(held.coef_, prior, rtol=1e-4, atol=1e-8)
    assert not np.allclose(warm.coef_, fitted.coef_, rtol=1e-3)


def test_attention_warm_start_errors(small):
    train, _ = small
    with pytest.raises(ValueError, match="attention_prior has shape \\(3,\\)"):
        StageWiseLocalizer(attention_prior=np.zeros(3)).fit(train)
    with pytest.raises(ValueError, match="attention_prior needs stages='exact'"):
        StageWiseLocalizer(attention_prior=np.zeros(3), stages="paper").fit(train)
    with pytest.raises(ValueError, match="attention_prior_strength must be at least 0"):
        StageWiseLocalizer(attention_prior_strength=-1.0).fit(train)
