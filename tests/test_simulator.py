import inspect

import numpy as np
import pandas as pd
import pytest

from activeloc import make_activitynet_like, simulate_features
from activeloc.data.annotations import GroundTruth
from activeloc.data.simulator import (ACTIVITYNET_1_3, WORLD_LEVELS, WORLDS, class_geometry, compare_temporal,
                                      measure_temporal_profile, sample_temporal_structure, world_params)

OLD_WORLD = world_params("all", "off")


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
                                      outlier_fraction=0, label_noise=0, **OLD_WORLD)
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
    assert (ks.loc[["duration", "coverage", "length"], "ks"] <= 0.02).all(), ks
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


def test_worlds_table_is_complete_and_its_defaults_are_the_simulators():
    params = inspect.signature(simulate_features).parameters
    for knob, levels in WORLDS.items():
        assert tuple(levels) == WORLD_LEVELS, knob
        assert all(v == 0 for v in levels["off"].values()), knob
        names = set(levels["off"])
        assert all(set(v) == names for v in levels.values()), knob
        for name in names:  # levels grow from off to high, and default is what simulate_features uses
            values = [levels[lv][name] for lv in WORLD_LEVELS]
            assert values == sorted(values) and len(set(values)) == 4, (knob, name)
            assert params[name].default == levels["default"][name] == world_params()[name]
    assert world_params("confusion", "high")["confusion"] == WORLDS["confusion"]["high"]["confusion"]
    assert world_params("confusion", "high")["submode_share"] == WORLDS["submodes"]["default"]["submode_share"]
    assert OLD_WORLD == {**{name: 0.0 for levels in WORLDS.values() for name in levels["off"]}, "class_signal": 2.0}
    with pytest.raises(ValueError, match="unknown world knob 'colour'"):
        world_params("colour")
    with pytest.raises(ValueError, match="unknown world level 'extreme'"):
        world_params("confusion", "extreme")


def test_world_knobs_change_features_only_never_the_annotations():
    plain, _ = make_activitynet_like(150, 6, feature_dim=4, random_state=5, **OLD_WORLD)
    every, _ = make_activitynet_like(150, 6, feature_dim=4, random_state=5, **world_params("all", "high"))
    pd.testing.assert_frame_equal(plain.instances, every.instances)
    pd.testing.assert_frame_equal(plain.videos, every.videos)


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_class_geometry_has_the_cosines_its_knobs_say():
    labels = [f"action_{i:03d}" for i in range(40)]
    dim = 4096  # random directions are orthogonal to about 1 / sqrt(dim) = 0.016
    g = class_geometry(labels, dim, 7, submode_share=0.4, n_submodes=3, confusion=0.5, confusion_group_size=5,
                       actionness_specificity=0.3)
    d, a = g["directions"], g["actionness"]
    assert d.shape == (40, 3, dim) and np.allclose(np.linalg.norm(d, axis=-1), 1)
    # Two sub-modes of a class: 1 - share; two classes of a group: (1 - share) * confusion; other groups: 0.
    assert all(abs(cosine(d[c, 0], d[c, 1]) - 0.6) < 0.06 for c in range(40))
    same = [(i, j) for i in range(40) for j in range(i) if g["group"][i] == g["group"][j]]
    other = [(i, j) for i in range(40) for j in range(i) if g["group"][i] != g["group"][j]]
    assert len(same) >= 10 and len(set(g["group"])) == 8
    assert all(abs(cosine(d[i, 0], d[j, 0]) - 0.3) < 0.06 for i, j in same)
    assert all(abs(cosine(d[i, 0], d[j, 0])) < 0.08 for i, j in other)
    # Actionness: the shared part carries 1 - specificity of the energy, so classes share cos 0.7.
    assert all(abs(cosine(a[i], a[j]) - 0.7) < 0.06 for i in range(40) for j in range(i))
    np.testing.assert_allclose(g["submode_frequencies"].sum(axis=1), 1)
    # A class's geometry depends on its name and the seed, not on which other classes are there.
    alone = class_geometry(labels[:1], dim, 7, submode_share=0.4, actionness_specificity=0.3)
    np.testing.assert_array_equal(alone["actionness"][0], a[0])
    off = class_geometry(labels, dim, 7)
    assert off["directions"].shape == (40, 1, dim) and np.ptp(off["actionness"], axis=0).max() == 0
    assert not off["boundary_jitter"].any()


def clean(**knobs):
    """Features that are the signal alone (no noise, nuisance, context, hard or outlier videos, label
    noise), on single-instance videos of 60 s, every knob but ``knobs`` off."""
    n = 400
    videos = pd.DataFrame({"subset": "training", "duration": 60.0},
                          index=pd.Index([f"v{i:03d}" for i in range(n)], name="video_id"))
    rng = np.random.default_rng(0)
    start = np.round(rng.uniform(10, 20, n), 2)
    instances = pd.DataFrame({"video_id": videos.index, "t_start": start, "t_end": start + 30,
                              "label": [f"c{i % 8}" for i in range(n)]})
    gt = GroundTruth(videos, instances)
    params = {**OLD_WORLD, **knobs}
    store = simulate_features(gt, feature_dim=16, noise_std=0, video_nuisance_std=0, context=0, hard_video_fraction=0,
                              outlier_fraction=0, label_noise=0, random_state=0, **params)
    return gt, store


def test_boundary_ambiguity_moves_the_visible_action_away_from_the_annotation():
    moved = {}
    for jitter in (0.0, 0.1, 0.2):
        gt, store = clean(boundary_jitter=jitter)
        seconds = []
        for vid, t0, t1 in gt.instances[["video_id", "t_start", "t_end"]].itertuples(index=False):
            bounds = store.snippet_bounds(vid)
            seen = np.abs(store.snippets(vid)).sum(axis=1) > 0  # the signal alone: non-zero where the action is
            annotated = (bounds[:, 1] > t0) & (bounds[:, 0] < t1)
            seconds.append(2.0 * np.sum(seen != annotated))
        moved[jitter] = np.mean(seconds)
    # Each boundary moves by |N(0, jitter * j_c * 30 s)|: 2.4 s on average at 0.1, two boundaries per instance.
    assert moved[0.0] == 0
    assert 1.5 < moved[0.1] < 9 and 3.5 < moved[0.2] < 18 and moved[0.2] > 1.5 * moved[0.1], moved


def test_video_difficulty_spreads_the_signal_scale_with_mean_one():
    def inside(spread):  # the norm of a snippet inside every instance (30 to 32 s): s_v times its class's
        gt, store = clean(video_difficulty=spread)
        return np.array([np.linalg.norm(store.snippets(v)[15]) for v in gt.video_ids])

    base = inside(0.0)
    for spread in (0.5, 1.0):
        factor = inside(spread) / base
        assert abs(np.std(np.log(factor)) - spread) < 0.1 and abs(factor.mean() - 1) < 0.25, spread
