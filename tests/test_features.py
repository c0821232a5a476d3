import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activeloc import HDF5FeatureStore, InMemoryFeatureStore, NpyFolderFeatureStore
from activeloc.data.features import FeatureError, snippet_bounds, write_hdf5_features, write_npy_folder


def test_snippet_bounds_c3d_layout():
    # 3 clips of 16 frames at stride 8 span 32 frames; a 32 s video gives 1 s per frame.
    np.testing.assert_allclose(snippet_bounds(3, 32.0), [[0, 16], [8, 24], [16, 32]])
    np.testing.assert_allclose(snippet_bounds(4, 8.0, 1, 1), [[0, 2], [2, 4], [4, 6], [6, 8]])


def store(rng, n_videos=3, dim=5):
    feats = {f"vid{i}": rng.standard_normal((10 + 7 * i, dim)).astype(np.float32) for i in range(n_videos)}
    durations = {vid: 2.0 * len(f) for vid, f in feats.items()}
    return InMemoryFeatureStore(feats, durations, window=1, stride=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 60), st.floats(0, 40)), min_size=1, max_size=20))
def test_pooling_equals_naive_mean(segments):
    s = store(np.random.default_rng(0))
    feats, centres = s.snippets("vid1"), s.snippet_bounds("vid1").mean(axis=1)
    seg = np.array([(a, a + b) for a, b in segments])
    got = s.segment_features("vid1", seg)
    for row, (t0, t1) in zip(got, seg):
        inside = (centres >= t0) & (centres <= t1)
        if not inside.any():
            inside = np.zeros(len(centres), bool)
            inside[np.argmin(np.abs(centres - (t0 + t1) / 2))] = True
        np.testing.assert_allclose(row, feats[inside].mean(axis=0), rtol=1e-5, atol=1e-5)


def test_three_backends_agree(tmp_path):
    mem = store(np.random.default_rng(1))
    write_hdf5_features(mem, tmp_path / "f.h5")
    write_npy_folder(mem, tmp_path / "npy")
    seg = np.array([[0.0, 5.0], [3.0, 17.0], [10.0, 10.5]])
    with HDF5FeatureStore(tmp_path / "f.h5", mem.durations) as h5:
        npy = NpyFolderFeatureStore(tmp_path / "npy", mem.durations, window=1, stride=1)
        assert sorted(h5.video_ids) == sorted(npy.video_ids) == sorted(mem.video_ids)
        assert (h5.window, h5.stride) == (1, 1)  # read back from the file's attributes
        for vid in mem.video_ids:
            ref = mem.segment_features(vid, seg)
            np.testing.assert_allclose(h5.segment_features(vid, seg), ref, rtol=1e-6)
            np.testing.assert_allclose(npy.segment_features(vid, seg), ref, rtol=1e-6)


def test_official_layout_without_attributes_defaults_to_c3d(tmp_path):
    import h5py

    with h5py.File(tmp_path / "c3d.h5", "w") as f:
        f.create_group("v_abc").create_dataset("c3d_features", data=np.ones((5, 500)))
    with HDF5FeatureStore(tmp_path / "c3d.h5", {"abc": 12.0}) as h5:
        assert (h5.window, h5.stride, h5.feature_dim) == (16, 8, 500)
        assert h5.snippet_bounds("abc")[-1, 1] == pytest.approx(12.0)


def test_missing_video_and_bad_features_are_clear_errors(tmp_path):
    s = store(np.random.default_rng(2))
    with pytest.raises(FeatureError, match="video 'nope': no features"):
        s.segment_features("nope", [[0, 1]])
    s.features["bad"] = np.full((3, 5), np.nan)
    s.durations["bad"] = 6.0
    with pytest.raises(FeatureError, match="'bad'.*NaN"):
        s.snippets("bad")
    s.features["nodur"] = np.ones((3, 5))
    with pytest.raises(FeatureError, match="'nodur': no duration"):
        s.segment_features("nodur", [[0, 1]])
    with pytest.raises(FeatureError, match="not found"):
        HDF5FeatureStore(tmp_path / "absent.h5", {})
    with pytest.raises(FeatureError, match="not found"):
        NpyFolderFeatureStore(tmp_path / "absent", {})
