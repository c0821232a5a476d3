"""Video ids are names, not paths: an id that cannot be a file name is refused, naming the file and
the id, wherever ids are read or written, and a written id never lands outside its folder."""

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activeloc import HDF5FeatureStore, InMemoryFeatureStore, NpyFolderFeatureStore
from activeloc.core.errors import InputError
from activeloc.core.ids import UnsafeVideoId, check_video_id, shown_id, video_id_problem
from activeloc.data.annotations import AnnotationError, read_ground_truth, read_results
from activeloc.data.features import write_hdf5_features, write_npy_folder

# Real ids: ActivityNet's (leading '-', '_' inside, and the two that start with 'v_', the C3D
# prefix) and a Kinetics one.
REAL_IDS = ["Fvm9BuMz0yE", "---9CpRcKoU", "-1K773_2MIY", "v_UmAH95xls", "v_Vg4a8igc0", "bd6eUL9prjI"]

UNSAFE = {
    "not a string": (7, "expected a string, got int"),
    "empty": ("", "empty video id"),
    "white space only": (" \t", "empty video id"),
    "dot": (".", "names a folder"),
    "dot dot": ("..", "names a folder"),
    "climbs out": ("../../escaped", "path separator"),
    "absolute": ("/tmp/escaped", "path separator"),
    "nested": ("a/b", "path separator"),
    "backslash": ("..\\escaped", "path separator"),
    "NUL": ("a\x00b", "control character"),
    "newline": ("a\nb", "control character"),
    "escape sequence": ("\x1b[31mred", "control character"),
    "line separator": ("a\u2028b", "line separator"),
    "paragraph separator": ("a\u2029b", "paragraph separator"),
    "right-to-left override": ("abc\u202egpj.exe", "invisible format character"),
    "lone surrogate": ("a\ud800", "lone surrogate"),
    "past NAME_MAX": ("x" * 300, "would be 306 bytes"),
    "past NAME_MAX in UTF-8": ("é" * 125, "would be 256 bytes"),
}


@pytest.mark.parametrize("video_id", REAL_IDS + ["x" * 249, "é" * 124, "a b", "...", ".hidden", "v_", "~"])
def test_ids_that_are_file_names_pass(video_id):
    assert video_id_problem(video_id) is None and check_video_id(video_id, "f.json") == video_id


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"\A[A-Za-z0-9_-]{11}\Z"))
def test_every_youtube_id_passes(video_id):
    assert video_id_problem(video_id) is None


@pytest.mark.parametrize("video_id, says", UNSAFE.values(), ids=UNSAFE.keys())
def test_an_unsafe_id_is_refused_naming_the_file_and_the_id(video_id, says):
    with pytest.raises(UnsafeVideoId) as err:
        check_video_id(video_id, "/data/gt.json")
    text = str(err.value)
    assert isinstance(err.value, InputError) and says in text and "\n" not in text
    assert text.startswith(f"/data/gt.json: video {shown_id(video_id)}: ")
    assert len(text) < 200  # a long id is cut in the middle


def test_a_numpy_string_id_is_the_plain_id():
    assert type(check_video_id(np.str_("abc"), "f")) is str and shown_id(np.str_("abc")) == "'abc'"


def _ground_truth(tmp_path, video_id):
    path = tmp_path / "gt.json"
    entry = {"subset": "validation", "duration": 5.0, "annotations": [{"segment": [1, 2], "label": "a"}]}
    path.write_text(json.dumps({"database": {"good": entry, video_id: entry}}))
    return path


@pytest.mark.parametrize("video_id, says", [v for v in UNSAFE.values() if isinstance(v[0], str)],
                         ids=[k for k, v in UNSAFE.items() if isinstance(v[0], str)])
def test_ground_truth_and_results_refuse_an_unsafe_id(tmp_path, video_id, says):
    path = _ground_truth(tmp_path, video_id)
    with pytest.raises(AnnotationError) as err:
        read_ground_truth(path)
    assert str(err.value) == f"{path}: video {shown_id(video_id)}: {video_id_problem(video_id)}"
    assert says in str(err.value)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": {video_id: [{"segment": [1, 2], "label": "a", "score": 1}]}}))
    with pytest.raises(AnnotationError, match="video .*" + says):
        read_results(results)


def test_validate_reports_an_unsafe_id_as_a_one_line_error(tmp_path, capsys):
    from activeloc.cli import main

    path = _ground_truth(tmp_path, "../../escaped")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"activeloc validate: error: {path}: video '../../escaped': contains '/', a path separator\n"


@pytest.mark.parametrize("name", ["..npy", "v_..npy", "a\nb.npy", "v_.npy", "a\\b.npy"])
def test_an_npy_folder_with_an_unsafe_name_is_refused(tmp_path, name):
    np.save(tmp_path / "good.npy", np.ones((3, 2)))
    (tmp_path / name).write_bytes((tmp_path / "good.npy").read_bytes())
    with pytest.raises(UnsafeVideoId, match=f"^{tmp_path}: video "):
        NpyFolderFeatureStore(tmp_path, {})


@pytest.mark.parametrize("group", ["v_..", "v_", "v_a\\b", "v_a\x7fb", "a\u2028b"])
def test_an_hdf5_file_with_an_unsafe_group_name_is_refused(tmp_path, group):
    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as fh:
        fh.create_group("v_good").create_dataset("c3d_features", data=np.ones((3, 2)))
        fh.create_group(group).create_dataset("c3d_features", data=np.ones((3, 2)))
    with pytest.raises(UnsafeVideoId, match=f"^{path}: video "):
        HDF5FeatureStore(path, {})


def test_ids_starting_with_the_c3d_prefix_read_back_from_an_npy_folder(tmp_path):
    store = InMemoryFeatureStore({vid: np.full((2, 3), i) for i, vid in enumerate(REAL_IDS)}, {})
    write_npy_folder(store, tmp_path)
    back = NpyFolderFeatureStore(tmp_path, {})
    assert sorted(back.video_ids) == sorted(REAL_IDS)
    for i, vid in enumerate(REAL_IDS):
        assert (back.snippets(vid) == i).all()


@pytest.mark.parametrize("writer", ["npy", "hdf5"])
def test_a_writer_refuses_every_id_before_writing_any(tmp_path, writer):
    store = InMemoryFeatureStore({"good": np.ones((2, 3)), "../../escaped": np.ones((2, 3))}, {})
    folder = tmp_path / "a" / "b" / "features"
    target = folder / "features.h5" if writer == "hdf5" else folder
    with pytest.raises(UnsafeVideoId, match=f"^{target}: video '../../escaped': contains '/'"):
        (write_hdf5_features if writer == "hdf5" else write_npy_folder)(store, target)
    assert list(tmp_path.rglob("*")) == []


# Any text: letters of every script, controls, separators, surrogates, dots and slashes, long ones.
ANY_ID = st.one_of(
    st.text(st.characters(exclude_categories=())),
    st.text(st.sampled_from("./\\\x00\n\u2028\ud800v_ -é"), max_size=8),
    st.text(st.characters(exclude_categories=()), min_size=60, max_size=260),
    st.text(st.characters(categories=("L", "N")), min_size=50, max_size=250),  # about NAME_MAX in UTF-8
    st.from_regex(r"\A[A-Za-z0-9_-]{11}\Z"),
)
# Layout: (writer, reader, the file written inside the folder: none for an npy folder).
LAYOUTS = {"npy": (write_npy_folder, NpyFolderFeatureStore, ""),
           "hdf5": (write_hdf5_features, HDF5FeatureStore, "features.h5")}


def _written_or_refused(layout, video_id):
    """Write one video under ``video_id`` into a fresh folder deep in a fresh root: either it is
    refused with the one-line error, or its one file lands inside the folder and reads back under
    the same id; nothing else is ever written anywhere under the root."""
    write, read, name = LAYOUTS[layout]
    features = np.arange(6, dtype="float32").reshape(3, 2)
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "a" / "b" / "features"
        folder.mkdir(parents=True)
        target = folder / name
        try:
            write(InMemoryFeatureStore({video_id: features}, {}), target)
            refusal = None
        except UnsafeVideoId as exc:
            refusal = str(exc)
        inside = list(folder.iterdir())
        assert set(Path(root).rglob("*")) == {folder.parents[1], folder.parent, folder, *inside}
        if refusal is not None:
            assert video_id_problem(video_id) is not None and not inside
            assert refusal.startswith(f"{target}: video ") and "\n" not in refusal
            return
        assert len(inside) == 1 and inside[0].resolve().parent == folder.resolve()
        back = read(target, {video_id: 3.0})
        try:
            assert back.video_ids == [video_id]
            np.testing.assert_array_equal(back.snippets(video_id), features)
        finally:
            if isinstance(back, HDF5FeatureStore):
                back.close()


@settings(max_examples=100, deadline=None)
@given(ANY_ID)
def test_an_npy_folder_refuses_an_id_or_writes_it_inside_and_reads_it_back(video_id):
    _written_or_refused("npy", video_id)


@settings(max_examples=100, deadline=None)
@given(ANY_ID)
def test_an_hdf5_file_refuses_an_id_or_writes_its_group_and_reads_it_back(video_id):
    _written_or_refused("hdf5", video_id)


def test_every_real_id_is_safe(anet_path, kinetics_files):
    activitynet = json.loads(anet_path.read_text())["database"]
    kinetics = {line.split("\t")[0] for line in kinetics_files["annotations"].read_text().splitlines() if line}
    assert len(activitynet) > 19000 and len(kinetics) > 6000
    assert [v for v in [*activitynet, *kinetics] if video_id_problem(v)] == []
