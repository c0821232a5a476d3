import numpy as np
import pytest

from activeloc import make_activitynet_like, make_splits, tiou
from activeloc.dataset import Dataset, SegmentEncoder, load_dataset
from activeloc.features import write_hdf5_features
from activeloc.annotations import write_ground_truth
from activeloc.io_utils import save_table
from activeloc.proposals import SlidingWindows


@pytest.fixture(scope="module")
def ds():
    gt, feats = make_activitynet_like(120, 6, feature_dim=8, random_state=4)
    return Dataset(gt, feats)


def test_overlaps_match_brute_force(ds):
    cs = ds.candidates(SlidingWindows())
    ids = ds.video_ids[::3]
    labels = sorted(ds.ground_truth.labels)
    rows, owner, best, cls = cs.overlaps(ids, ds.instances, labels)
    assert (np.diff(owner) >= 0).all() and owner.max() == len(ids) - 1
    inst = ds.instances.groupby("video_id")
    k = 0
    for vid in ids:
        seg = cs.segments[cs.offsets[cs.position[vid]]:cs.offsets[cs.position[vid] + 1]]
        g = inst.get_group(vid)
        m = tiou(seg, g[["t_start", "t_end"]].to_numpy())
        np.testing.assert_allclose(best[k:k + len(seg)], m.max(axis=1))
        want = [labels.index(lab) for lab in g["label"].to_numpy()[m.argmax(axis=1)]]
        np.testing.assert_array_equal(cls[k:k + len(seg)], want)
        k += len(seg)
    assert k == len(rows)


def test_encoder_contrast_and_geometry(ds):
    vid = ds.video_ids[0]
    duration = ds.features.duration(vid)
    segs = np.array([[0.0, duration], [duration / 4, duration / 2]])
    plain = SegmentEncoder(context_weight=0).encode(ds.features, vid, segs)
    np.testing.assert_allclose(plain[:, :-3], ds.features.segment_features(vid, segs), rtol=1e-5)
    np.testing.assert_allclose(plain[:, -3:], [[1, 1, 1], [0.25, 0, 0]])
    contrasted = SegmentEncoder(context_weight=1.0, flank=0.5).encode(ds.features, vid, segs)
    np.testing.assert_allclose(contrasted[0, :-3], 0, atol=1e-5)  # whole video minus its own mean
    flanks = ds.features.segment_features(vid, [[duration / 8, duration / 4], [duration / 2, duration * 5 / 8]])
    np.testing.assert_allclose(contrasted[1, :-3], plain[1, :-3] - flanks.mean(axis=0), rtol=1e-4, atol=1e-5)


def test_load_dataset_round_trip(tmp_path, ds):
    splits = make_splits(ds.ground_truth, random_state=0)
    write_ground_truth(ds.ground_truth, tmp_path / "ground_truth.json")
    save_table(splits.reset_index(), tmp_path / "splits.csv", markdown=False)
    write_hdf5_features(ds.features, tmp_path / "features.h5")
    loaded = load_dataset(tmp_path)
    assert loaded.video_ids == list(splits.index)
    vid = loaded.video_ids[0]
    np.testing.assert_allclose(loaded.features.snippets(vid), ds.features.snippets(vid))
    assert set(loaded.split("testing").video_ids) == set(splits.index[splits["split"] == "testing"])
