import numpy as np
import pandas as pd
import pytest

from activeloc.evaluation.recall import average_recall, proposal_summary
from activeloc.localization.proposals import LoadedProposals, SlidingWindows


def test_sliding_windows_cover_the_video_at_every_scale():
    sw = SlidingWindows(scales=(1.0, 0.5, 0.3), overlap=0.5)
    seg = sw.segments("v", 100.0)
    assert seg.min() == 0 and seg.max() == pytest.approx(100.0)
    lengths = np.round(seg[:, 1] - seg[:, 0], 6)
    assert set(lengths) == {100.0, 50.0, 30.0}
    assert (lengths[:-1] >= lengths[1:]).all()  # coarse to fine
    # each scale reaches the end of the video
    for length in (50.0, 30.0):
        assert seg[lengths == length][:, 1].max() == pytest.approx(100.0)
    assert not pd.DataFrame(seg).duplicated().any()


def test_sliding_windows_edge_cases():
    absolute = SlidingWindows(scales=(64.0, 16.0), overlap=0.5, relative=False)
    short = absolute.segments("v", 10.0)  # shorter than the smallest window: the whole video
    np.testing.assert_allclose(short, [[0.0, 10.0]])
    assert len(SlidingWindows().segments("v", 0.0)) == 0
    with pytest.raises(ValueError):
        SlidingWindows(overlap=1.0)
    assert 90 <= len(SlidingWindows().segments("v", 120.0)) <= 130  # about 100 by default


def test_loaded_proposals_keep_best_first_and_clip():
    df = pd.DataFrame({"video_id": ["a", "a", "a", "b"], "t_start": [0, 5, 8, -1.0],
                       "t_end": [4, 9, 30, 3.0], "score": [0.1, 0.9, 0.5, 1.0]})
    lp = LoadedProposals(df, max_per_video=2)
    np.testing.assert_allclose(lp.segments("a", 20.0), [[5, 9], [8, 20]])
    np.testing.assert_allclose(lp.segments("b", 20.0), [[0, 3]])
    assert len(lp.segments("zzz", 20.0)) == 0


def test_average_recall_hand_case():
    gt = pd.DataFrame({"video_id": ["a", "a"], "t_start": [0.0, 50.0], "t_end": [10.0, 60.0]})
    props = {"a": np.array([[0.0, 10.0], [100.0, 110.0], [50.0, 60.0], [0.0, 5.0]])}
    curve = average_recall(gt, props, max_avg_proposals=4, tiou_thresholds=[0.5])
    # 4 proposals, 100 points: 1 proposal finds truth 1 (recall 0.5), 3 find both.
    assert curve["an"].iloc[-1] == pytest.approx(4)
    at = dict(zip(np.round(curve["an"], 6), curve["ar"]))
    assert at[1.0] == 0.5 and at[2.0] == 0.5 and at[3.0] == 1.0
    summary = proposal_summary(curve)
    assert summary["AR@1"] == 0.5 and 0 < summary["AUC"] < 1


def test_sliding_window_recall_on_real_activitynet(anet):
    val = anet.subset("validation")
    sw = SlidingWindows()
    props = {v: sw.segments(v, d) for v, d in val.videos["duration"].items()}
    summary = proposal_summary(average_recall(val.instances, props))
    assert 0.6 < summary["AR@100"] < 0.72 and 0.5 < summary["AUC"] < 0.6
