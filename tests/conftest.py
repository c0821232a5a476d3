"""Shared fixtures and helpers of the test suite.

Markers: ``realdata`` (reads ../shared/data; added automatically to every test that uses the real
annotations' fixtures), ``slow`` (subprocesses, clusters, bigger fits), ``notebook`` (papermill),
``browser`` (a real browser). ``make test-fast`` runs what is none of slow, notebook and browser.
"""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from activeloc.core.paths import ACTIVITYNET_FILE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ANET = SHARED / ACTIVITYNET_FILE
KINETICS = {"annotations": SHARED / "kinetics-600" / "k600_val_temporal_annotations.txt",
            "categories": SHARED / "kinetics-600" / "k600_categories.txt",
            "clips": SHARED / "kinetics-600" / "kinetics-600_val_clips.csv"}
REAL_DATA_FIXTURES = {"anet_path", "anet", "anet_raw", "shared_data", "kinetics_files"}


def pytest_collection_modifyitems(items):
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realdata)
    # Longest first. xdist sends groups by their number of tests, ties in collection order: the notebook
    # group (the longest by time, about 5 minutes) goes ahead of any group of as many tests. Single tests go
    # in collection order, and a slow one collected late (a signal test, a browser test) kept one worker
    # busy while the other idled.
    items.sort(key=_schedule_rank)  # stable: file order within a rank, the same on every worker


def _schedule_rank(item) -> int:
    group = item.get_closest_marker("xdist_group")
    if group is not None and group.args == ("notebooks",):
        return 0
    return 1 if item.get_closest_marker("slow") or item.get_closest_marker("browser") else 2


@pytest.fixture(scope="session")
def shared_data():
    """The shared real-data folder (the test is skipped, saying why, when it is absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"real annotations absent ({SHARED}); real-data tests skipped")
    return SHARED


@pytest.fixture(scope="session")
def anet_path(shared_data):
    if not ANET.is_file():
        pytest.skip(f"real ActivityNet annotations absent ({ANET}); real-data tests skipped")
    return ANET


@pytest.fixture(scope="session")
def kinetics_files(shared_data):
    """The real Kinetics-600 annotation, category and clip files (skipped, saying why, when absent)."""
    for path in KINETICS.values():
        if not path.is_file():
            pytest.skip(f"real Kinetics annotations absent ({path}); real-data tests skipped")
    return KINETICS


@pytest.fixture(scope="session")
def anet(anet_path):
    from activeloc import read_ground_truth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its repairs are the subject of their own tests
        return read_ground_truth(anet_path)


@pytest.fixture(scope="session")
def anet_raw(anet_path):
    from activeloc import read_ground_truth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_ground_truth(anet_path, repair=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project's notebooks in a fresh folder, so runs never touch the real reports/;
    it sees the real shared data where this checkout does."""
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(SHARED))
    monkeypatch.delenv("ACTIVELOC_ROOT", raising=False)  # it would send kernels to the real project
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copytree(ROOT / "notebooks", copy / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return copy


def write_notebook(path, parameters: str, body: str, **metadata):
    """A two-cell notebook at ``path``: a ``parameters`` cell and a body cell; ``metadata`` goes to
    its ``activeloc`` metadata (e.g. ``needs=["kinetics"]``)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if metadata:
        nb.metadata["activeloc"] = metadata
    nbformat.write(nb, path)


def simulated_dataset(seed=0, n=900, classes=12, feature_dim=16, **simulator):
    """A small simulated dataset with the paper's splits."""
    from activeloc import Dataset, make_activitynet_like, make_splits

    gt, feats = make_activitynet_like(n, classes, feature_dim=feature_dim, random_state=seed, **simulator)
    return Dataset(gt, feats, splits=make_splits(gt, random_state=0))


def shown(markup) -> str:
    """What a person reads of an HTML widget's value: its text, with entities decoded."""
    from html.parser import HTMLParser

    parser = HTMLParser(convert_charrefs=True)
    parts = []
    parser.handle_data = parts.append
    parser.feed(str(markup))
    parser.close()
    return "".join(parts)


def write_dataset_folder(folder, seed=0, n=500, classes=12, feature_dim=12):
    """A dataset folder as 01-dataset writes it; returns the folder."""
    from activeloc import make_activitynet_like, make_splits, save_dataset

    gt, feats = make_activitynet_like(n, classes, feature_dim=feature_dim, random_state=seed)
    return save_dataset(folder, gt, feats, make_splits(gt, random_state=0),
                        {"n_videos": n, "n_classes": classes, "feature_dim": feature_dim, "random_state": seed})


# What an attacker with only a dataset file would write: markup that runs script if a page ever
# takes it as HTML (each payload pushes to window.__pwned). Ids stay safe as file names.
HOSTILE_ID = "<img src=x onerror=\"(window.__pwned=window.__pwned||[]).push('id')\">{}"
HOSTILE_LABEL = "<script>(window.__pwned=window.__pwned||[]).push('label')</script>'\"><svg onload=\"(window.__pwned=window.__pwned||[]).push('label')\">{}"


def hostile_dataset_folder(folder, n=300, classes=8, feature_dim=8, seed=0):
    """:func:`write_dataset_folder`'s dataset with every video id and class label a script payload."""
    from activeloc import make_activitynet_like, make_splits, save_dataset
    from activeloc.data.annotations import GroundTruth
    from activeloc.data.features import InMemoryFeatureStore

    gt, feats = make_activitynet_like(n, classes, feature_dim=feature_dim, random_state=seed)
    ids = {v: HOSTILE_ID.format(v) for v in gt.video_ids}
    labels = {c: HOSTILE_LABEL.format(c) for c in gt.labels}
    instances = gt.instances.assign(video_id=gt.instances["video_id"].map(ids), label=gt.instances["label"].map(labels))
    gt = GroundTruth(gt.videos.rename(index=ids), instances, gt.version)
    feats = InMemoryFeatureStore({ids[v]: feats.snippets(v) for v in feats.video_ids}, gt.durations().to_dict())
    return save_dataset(folder, gt, feats, make_splits(gt, random_state=0),
                        {"n_videos": n, "n_classes": classes, "feature_dim": feature_dim, "random_state": seed})


def run_loop(data, checkpoint=None, selector=None, **kwargs):
    """A full uncertainty run on ``data`` (batch 64, noisy oracle, seed 5)."""
    from activeloc import ActiveLearningLoop, SimulatedOracle, StageWiseLocalizer, make_selector

    loop = ActiveLearningLoop(StageWiseLocalizer(), selector or make_selector("uncertainty"),
                              SimulatedOracle(data.ground_truth, noise=0.1), batch_size=64,
                              checkpoint=checkpoint, random_state=5, run_id="t", **kwargs)
    return loop.run(data.split("selection"), data.split("testing"), progress=False)


@pytest.fixture(scope="session")
def data():
    return simulated_dataset()


@pytest.fixture(scope="session")
def fitted(data):
    """A localizer fitted on 100 Selection videos, that labelled set, and the rest as a label-blind pool."""
    from activeloc import StageWiseLocalizer

    sel = data.split("selection")
    labelled = sel.subset(sel.video_ids[:100])
    return StageWiseLocalizer(random_state=0).fit(labelled), labelled, sel.subset(sel.video_ids[100:]).without_labels()


# -- a slow, literal re-statement of the official ActivityNet detection evaluation ----------------
# One prediction at a time, one threshold at a time, exactly the steps the official
# eval_detection.py takes (Python 3, no blocked-video list): the oracle that the vectorised
# evaluate_detections must agree with.

def _segment_iou(target, candidates):
    tt1 = np.maximum(target[0], candidates[:, 0])
    tt2 = np.minimum(target[1], candidates[:, 1])
    inter = (tt2 - tt1).clip(0)
    union = (candidates[:, 1] - candidates[:, 0]) + (target[1] - target[0]) - inter
    return inter.astype(float) / union


def _interpolated_ap(prec, rec):
    mprec = np.hstack([[0], prec, [0]])
    mrec = np.hstack([[0], rec, [1]])
    for i in range(len(mprec) - 1)[::-1]:
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1::] != mrec[0:-1])[0] + 1
    return np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])


def _class_ap(gt, pred, thresholds):
    """gt: list of (video, t0, t1); pred: list of (video, t0, t1, score)."""
    ap = np.zeros(len(thresholds))
    if not pred:
        return ap
    npos = float(len(gt))
    lock = -np.ones((len(thresholds), len(gt)))
    order = np.argsort([-p[3] for p in pred], kind="stable")
    tp = np.zeros((len(thresholds), len(pred)))
    fp = np.zeros((len(thresholds), len(pred)))
    by_video = {}
    for j, (v, t0, t1) in enumerate(gt):
        by_video.setdefault(v, []).append((j, t0, t1))
    for idx, k in enumerate(order):
        v, t0, t1, _ = pred[k]
        if v not in by_video:
            fp[:, idx] = 1
            continue
        rows = by_video[v]
        ious = _segment_iou(np.array([t0, t1]), np.array([[a, b] for _, a, b in rows]))
        ranked = np.argsort(-ious, kind="stable")
        for tidx, thr in enumerate(thresholds):
            for jdx in ranked:
                if ious[jdx] < thr:
                    fp[tidx, idx] = 1
                    break
                if lock[tidx, rows[jdx][0]] >= 0:
                    continue
                tp[tidx, idx] = 1
                lock[tidx, rows[jdx][0]] = idx
                break
            if fp[tidx, idx] == 0 and tp[tidx, idx] == 0:
                fp[tidx, idx] = 1
    tp_c = np.cumsum(tp, axis=1)
    fp_c = np.cumsum(fp, axis=1)
    rec = tp_c / npos
    prec = tp_c / (tp_c + fp_c)
    for tidx in range(len(thresholds)):
        ap[tidx] = _interpolated_ap(prec[tidx], rec[tidx])
    return ap


def reference_map(gt_rows, pred_rows, thresholds):
    """gt_rows: (video, t0, t1, label); pred_rows: (video, t0, t1, label, score). Returns mAP per threshold."""
    labels = sorted({r[3] for r in gt_rows})
    aps = []
    for label in labels:
        gt = [(v, a, b) for v, a, b, lab in gt_rows if lab == label]
        pred = [(v, a, b, s) for v, a, b, lab, s in pred_rows if lab == label]
        aps.append(_class_ap(gt, pred, np.asarray(thresholds)))
    return np.mean(aps, axis=0)
