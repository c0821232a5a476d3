import pytest

from activeloc import make_activitynet_like, make_splits
from activeloc.data.splits import PAPER_SIZES, draw_subset, split_ground_truth, split_statistics


@pytest.fixture(scope="module")
def sim():
    gt, _ = make_activitynet_like(3000, 40, feature_dim=4, random_state=3)
    return gt


def check_splits(gt, splits, n_source_classes):
    parts = split_ground_truth(gt, splits)
    ks, sel, test = (set(parts[k].instances["label"]) for k in ("knowledge_source", "selection", "testing"))
    assert len(ks) == n_source_classes
    assert not ks & sel and not ks & test
    assert test == sel  # Testing: unseen videos of the Selection classes
    assert splits.index.is_unique
    counts = splits["split"].value_counts()
    share = counts["testing"] / (counts["testing"] + counts["selection"])
    paper = PAPER_SIZES["testing"] / (PAPER_SIZES["testing"] + PAPER_SIZES["selection"])
    assert share == pytest.approx(paper, abs=0.01)
    return counts


def test_category_disjoint_and_proportions(sim):
    splits = make_splits(sim, random_state=0)
    counts = check_splits(sim, splits, 10)
    ratio = counts["knowledge_source"] / (counts["selection"] + counts["testing"])
    assert ratio == pytest.approx(2790 / 14884, abs=0.01)


def test_deterministic_for_a_seed(sim):
    a, b = make_splits(sim, random_state=5), make_splits(sim, random_state=5)
    assert a.equals(b)
    assert not a.equals(make_splits(sim, random_state=6))


def test_statistics_table(sim):
    stats = split_statistics(sim, make_splits(sim, random_state=0)).set_index("split")
    assert stats.loc["all", "videos"] == stats.loc[["knowledge_source", "selection", "testing"], "videos"].sum()
    assert (stats["instances_per_video"] >= 1).all()


def test_real_activitynet_splits(anet):
    trainval = anet.select(anet.videos.index[anet.videos["subset"] != "testing"])
    splits = make_splits(trainval, random_state=0)
    counts = check_splits(trainval, splits, 50)
    # 14,377 annotated videos (the paper's splits total 17,674): same proportions, fewer videos;
    # only the 11 two-class videos that straddle both class groups can be left out.
    ratio = counts["knowledge_source"] / (counts["selection"] + counts["testing"])
    assert ratio == pytest.approx(2790 / 14884, abs=0.005)
    assert counts["selection"] + counts["testing"] >= len(trainval.instances["video_id"].unique()) * 0.74


def test_draw_subset_sizes_ratios_and_determinism():
    ids = [f"v{i}" for i in range(50)]
    a = draw_subset(ids, 10, random_state=3)
    assert len(a) == 10 and len(set(a)) == 10 and set(a) <= set(ids)
    assert a == draw_subset(ids, 10, random_state=3) and a != draw_subset(ids, 10, random_state=4)
    assert len(draw_subset(ids, ratio=0.1, random_state=0)) == 5
    assert len(draw_subset(ids, ratio=0.001, random_state=0)) == 1  # at least one
    assert sorted(draw_subset(ids, random_state=0)) == sorted(ids)  # all of them, shuffled
    assert sorted(draw_subset(ids, 0, random_state=0)) == sorted(ids) == sorted(draw_subset(ids, 999, random_state=0))
    assert draw_subset(ids, 10, random_state=3) == draw_subset(ids, random_state=3)[:10]  # a prefix of one order
    with pytest.raises(ValueError, match="not both"):
        draw_subset(ids, 5, ratio=0.5)
    with pytest.raises(ValueError, match="ratio"):
        draw_subset(ids, ratio=1.5)


def test_videos_left_out_are_counted_by_reason(sim):
    from activeloc.data.splits import videos_left_out

    splits = make_splits(sim, random_state=0)
    left = videos_left_out(sim, splits)
    annotated = sim.instances["video_id"].nunique()
    assert left.sum() == annotated - len(splits) > 0
    assert left["labels in both class groups"] == 0  # one class per simulated video
