import numpy as np
import pytest

from activeloc import make_activitynet_like, simulate_features
from activeloc.data.simulator import ACTIVITYNET_1_3, compare_temporal, measure_temporal_profile, sample_temporal_structure


def test_deterministic_for_a_seed():
    a_gt, a_f = make_activitynet_like(200, 10, feature_dim=8, random_state=11)
    b_gt, b_f = make_activitynet_like(200, 10, feature_dim=8, random_state=11)
    assert a_gt.instances.equals(b_gt.instances)
    assert all(np.array_equal(a_f.snippets(v), b_f.snippets(v)) for v in a_gt.video_ids)
    c_gt, _ = make_activitynet_like(200, 10, feature_dim=8, random_state=12)
    assert not a_gt.instances.equals(c_gt.instances)


def test_segments_are_valid_and_disjoint():
    durations, segments = sample_temporal_structure(2000, random_state=0)
    for d, seg in zip(durations, segments):
        assert len(seg) >= 1
        assert (seg[:, 1] > seg[:, 0]).all() and seg.min() >= 0 and seg.max() <= d + 1e-9
        assert (seg[1:, 0] >= seg[:-1, 1] - 1e-9).all()


def test_features_carry_actionness_and_class_signal():
    gt, feats = make_activitynet_like(300, 5, feature_dim=32, random_state=0, hard_video_fraction=0,
                                      outlier_fraction=0, label_noise=0)
    diffs = []
    for vid, grp in gt.instances.groupby("video_id"):
        bounds = feats.snippet_bounds(vid)
        inside = np.zeros(len(bounds), bool)
        for t0, t1 in grp[["t_start", "t_end"]].to_numpy():
            inside |= (bounds[:, 0] >= t0) & (bounds[:, 1] <= t1)
        centre = bounds.mean(axis=1)
        outside = (centre < grp.t_start.min()) | (centre > grp.t_end.max())
        if inside.any() and outside.any():
            x = feats.snippets(vid)
            diffs.append(x[inside].mean(axis=0) - x[outside].mean(axis=0))
    # Within a video nuisance and context cancel: what is left is actionness (norm 1) plus the
    # class directions averaged over 5 classes (norm about 1/sqrt(5)), so about 1.1 in all.
    assert 0.9 < np.linalg.norm(np.mean(diffs, axis=0)) < 1.35


def test_feature_simulation_runs_on_any_ground_truth(anet):
    small = anet.select(anet.instances["video_id"].unique()[:50])
    store = simulate_features(small, feature_dim=8, random_state=0)
    assert sorted(store.video_ids) == sorted(small.video_ids)
    vid = small.video_ids[0]
    assert store.snippets(vid).shape[1] == 8
    assert store.snippet_bounds(vid)[-1, 1] == pytest.approx(small.videos.loc[vid, "duration"])


@pytest.mark.slow
def test_calibrated_to_real_activitynet(anet):
    trainval = anet.select(anet.videos.index[anet.videos["subset"] != "testing"])
    gt, _ = make_activitynet_like(14377, feature_dim=2, random_state=0)
    ks = compare_temporal(gt, trainval).set_index("attribute")
    assert (ks.loc[["duration", "coverage", "length"], "ks"] <= 0.05).all(), ks
    row = ks.loc["instances_per_video"]
    assert abs(row["mean_simulated"] - row["mean_real"]) <= 0.1


def test_embedded_profile_is_what_the_real_file_measures(anet):
    trainval = anet.select(anet.videos.index[anet.videos["subset"] != "testing"])
    measured = measure_temporal_profile(trainval)
    np.testing.assert_allclose(measured.duration_quantiles, ACTIVITYNET_1_3.duration_quantiles, atol=1e-3)
    for got, want in zip(measured.coverage_quantiles, ACTIVITYNET_1_3.coverage_quantiles):
        np.testing.assert_allclose(got, want, atol=1e-5)
    for got, want in zip(measured.instances_pmf, ACTIVITYNET_1_3.instances_pmf):
        np.testing.assert_allclose(got[: len(want)], want, atol=1e-5)
        assert sum(got[len(want):]) == 0
