import numpy as np
import pandas as pd
import pytest

from activeloc import make_activitynet_like, make_splits, save_dataset, tiou
from activeloc.data.dataset import Dataset, LabelBlindError, dataset_fingerprint, load_dataset
from activeloc.localization.encoding import SegmentEncoder, candidate_matrix
from activeloc.localization.proposals import SlidingWindows


@pytest.fixture(scope="module")
def ds():
    gt, feats = make_activitynet_like(120, 6, feature_dim=8, random_state=4)
    return Dataset(gt, feats)


def test_overlaps_match_brute_force(ds):
    cm = candidate_matrix(ds, SlidingWindows(), SegmentEncoder())
    ids = ds.video_ids[::3]
    labels = sorted(ds.ground_truth.labels)
    rows, owner, best, cls = cm.overlaps(ids, ds.instances, labels)
    assert (np.diff(owner) >= 0).all() and owner.max() == len(ids) - 1
    inst = ds.instances.groupby("video_id")
    k = 0
    for vid in ids:
        seg = cm.segments[cm.offsets[cm.position[vid]]:cm.offsets[cm.position[vid] + 1]]
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


def test_candidates_are_encoded_once_for_every_subset_and_keyed_by_value(ds):
    part = ds.subset(ds.video_ids[:10])
    a = candidate_matrix(part, SlidingWindows(), SegmentEncoder())
    assert a is candidate_matrix(ds.without_labels(), SlidingWindows(), SegmentEncoder())  # equal values: one entry
    assert set(a.video_ids) == set(ds.video_ids)  # built for the set first made, not the subset
    assert a is not candidate_matrix(part, SlidingWindows(overlap=0.25), SegmentEncoder())


def test_a_pool_is_label_blind(ds):
    pool = ds.subset(ds.video_ids[:5]).without_labels()
    with pytest.raises(LabelBlindError, match="label-blind"):
        pool.instances
    with pytest.raises(LabelBlindError):
        pool.ground_truth
    assert pool.durations().index.tolist() == ds.video_ids[:5]
    np.testing.assert_allclose(pool.durations(), ds.ground_truth.videos["duration"].iloc[:5])
    assert pool.subset(pool.video_ids[:2]).video_ids == ds.video_ids[:2]


def test_save_and_load_round_trip_and_fingerprint(tmp_path, ds):
    splits = make_splits(ds.ground_truth, random_state=0)
    save_dataset(tmp_path, ds.ground_truth, ds.features, splits, {"seed": 4})
    loaded = load_dataset(tmp_path)
    assert loaded.video_ids == list(splits.index)
    pd.testing.assert_frame_equal(loaded.splits, splits.rename_axis("video_id"))
    vid = loaded.video_ids[0]
    np.testing.assert_allclose(loaded.features.snippets(vid), ds.features.snippets(vid))
    assert set(loaded.split("testing").video_ids) == set(splits.index[splits["split"] == "testing"])
    before = dataset_fingerprint(tmp_path)
    assert dataset_fingerprint(tmp_path) == before
    other, feats = make_activitynet_like(120, 6, feature_dim=8, random_state=5)
    save_dataset(tmp_path, other, feats, make_splits(other, random_state=0), {"seed": 4})  # same parameters file
    assert dataset_fingerprint(tmp_path) != before


def test_a_subset_shows_its_own_videos_only(ds):
    splits = make_splits(ds.ground_truth, random_state=0)
    data = Dataset(ds.ground_truth, ds.features, splits=splits)
    part = data.subset(data.video_ids[:40])
    assert set(part.splits.index) == set(part.ground_truth.video_ids) == set(part.video_ids)
    assert set(part.instances["video_id"]) <= set(part.video_ids)
    assert set(part.split("testing").video_ids) == set(part.video_ids) & set(data.split("testing").video_ids)


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ground_truth.json"):
        load_dataset(tmp_path)


def test_a_dataset_folder_keeps_its_candidates_for_the_next_process(tmp_path, ds):
    splits = make_splits(ds.ground_truth, random_state=0)
    save_dataset(tmp_path, ds.ground_truth, ds.features, splits, {"seed": 4})
    built = candidate_matrix(load_dataset(tmp_path), SlidingWindows(), SegmentEncoder())
    stored = list((tmp_path / "derived").rglob("*.joblib"))
    assert len(stored) == 1 and stored[0].parent.name == dataset_fingerprint(tmp_path)

    def refuse(*args):
        raise AssertionError("built again although it was stored")

    again = load_dataset(tmp_path).derived.get(("candidates", SlidingWindows(), SegmentEncoder()), refuse)
    assert isinstance(again.features, np.memmap) and not again.features.flags.writeable  # mapped, shared, read-only
    np.testing.assert_array_equal(again.features, built.features)
    np.testing.assert_array_equal(again.segments, built.segments)
    assert again.video_ids == built.video_ids
    # Another universe (a subset made first) is another value.
    part = load_dataset(tmp_path).subset(splits.index[:30])
    assert candidate_matrix(Dataset(part.ground_truth, part.features, part.video_ids,
                                    derived=type(part.derived)(part.video_ids, part.derived.store)),
                            SlidingWindows(), SegmentEncoder()).video_ids == list(splits.index[:30])
    assert len(list((tmp_path / "derived").rglob("*.joblib"))) == 2

    garbled = stored[0].with_name("garbled")  # replaced, not rewritten in place: `built` still maps the file
    garbled.write_bytes(b"not a pickle")
    garbled.replace(stored[0])  # an unreadable file is reported by path and built again
    with pytest.warns(UserWarning, match=f"{stored[0].name}: unreadable"):
        rebuilt = candidate_matrix(load_dataset(tmp_path), SlidingWindows(), SegmentEncoder())
    np.testing.assert_array_equal(rebuilt.features, built.features)

    other, feats = make_activitynet_like(120, 6, feature_dim=8, random_state=5)
    save_dataset(tmp_path, other, feats, make_splits(other, random_state=0), {"seed": 4})
    candidate_matrix(load_dataset(tmp_path), SlidingWindows(), SegmentEncoder())  # what the old content gave goes
    assert [p.name for p in (tmp_path / "derived").iterdir()] == [dataset_fingerprint(tmp_path)]
