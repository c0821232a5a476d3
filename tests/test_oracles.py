
import numpy as np
import pandas as pd
import pytest

from activeloc import make_activitynet_like, tiou
from activeloc.active.oracles import AnnotationQueue, HumanOracle, PendingAnnotations, SimulatedOracle, perturb_segment
from activeloc.data.annotations import AnnotationError


@pytest.fixture(scope="module")
def gt():
    ground_truth, _ = make_activitynet_like(800, 10, feature_dim=2, random_state=0)
    return ground_truth


def test_noiseless_oracle_returns_the_truth(gt):
    ids = gt.video_ids[:20]
    got = SimulatedOracle(gt).annotate(ids, random_state=0)
    want = gt.instances[gt.instances.video_id.isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("noise", [0.05, 0.1, 0.2, 0.3])
def test_noisy_oracle_hits_the_requested_tiou(gt, noise):
    oracle = SimulatedOracle(gt, noise=noise, noise_std=0.05)
    got = oracle.annotate(gt.video_ids, random_state=1)
    truth = gt.instances
    assert (got[["video_id", "label"]].to_numpy() == truth[["video_id", "label"]].to_numpy()).all()
    ious = np.array([tiou([a], [b])[0, 0] for a, b in zip(got[["t_start", "t_end"]].to_numpy(),
                                                          truth[["t_start", "t_end"]].to_numpy())])
    # Clipping at 1 lowers the mean of N(0.95, 0.05) by 0.004: within 0.01 at every level.
    assert abs(ious.mean() - (1 - noise)) < 0.01
    durations = gt.videos["duration"].loc[got["video_id"]].to_numpy()
    assert (got["t_start"] >= -1e-9).all() and (got["t_end"].to_numpy() <= durations + 1e-9).all()
    again = oracle.annotate(gt.video_ids, random_state=1)
    pd.testing.assert_frame_equal(got, again)


def test_perturb_segment_exact_tiou():
    rng = np.random.RandomState(0)
    for target in (0.05, 0.3, 0.77, 0.99):
        for t0, t1, d in ((0.0, 10.0, 10.0), (2.0, 5.0, 100.0), (90.0, 100.0, 100.0)):
            a, b = perturb_segment(t0, t1, d, target, rng)
            assert tiou([[a, b]], [[t0, t1]])[0, 0] == pytest.approx(target)
            assert 0 <= a < b <= d


def test_unknown_video_is_an_error(gt):
    with pytest.raises(AnnotationError, match="nope"):
        SimulatedOracle(gt).annotate(["nope"])


def test_queue_is_idempotent_and_latest_wins(tmp_path):
    queue = AnnotationQueue(tmp_path / "queue.jsonl")
    first = queue.submit("v1", [{"segment": [1, 2], "label": "a"}], annotator="ann")
    assert queue.submit("v1", [{"segment": [1, 2], "label": "a"}], annotator="ann") == first
    assert len(queue.records()) == 1
    queue.submit("v1", [{"segment": [1, 3], "label": "a"}])
    queue.submit("v2", [])
    assert queue.latest() == {"v1": [{"segment": [1.0, 3.0], "label": "a"}], "v2": []}
    oracle = HumanOracle(queue)
    got = oracle.annotate(["v1", "v2"])
    assert got.to_dict("records") == [{"video_id": "v1", "t_start": 1.0, "t_end": 3.0, "label": "a"}]
    with pytest.raises(PendingAnnotations) as err:
        oracle.annotate(["v1", "v3"])
    assert err.value.missing == ["v3"]
    with pytest.raises(AnnotationError, match="instances\\[0\\]"):
        queue.submit("v4", [{"segment": [3, 1], "label": "a"}])


def test_a_submission_carries_the_persons_seconds(tmp_path):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    queue.submit("v1", [{"segment": [1, 2], "label": "a"}], seconds=42.5)
    queue.submit("v2", [])
    assert [r.get("seconds") for r in AnnotationQueue(path).records()] == [42.5, None]  # read back by another reader
    for bad in (-1.0, float("nan"), "10", True):
        with pytest.raises(AnnotationError, match="seconds"):
            queue.submit("v3", [], seconds=bad)
    # A line whose seconds no submit would have written is set aside, as any unreadable line.
    with open(path, "a") as fh:
        fh.write('{"submission_id": "x", "video_id": "v4", "instances": [], "seconds": -3}\n')
    with pytest.warns(UserWarning, match="seconds"):
        records = AnnotationQueue(path).records()
    assert [r["video_id"] for r in records] == ["v1", "v2"]
