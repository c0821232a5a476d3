import os
import signal
import subprocess
import sys
import time

import joblib
import numpy as np
import pandas as pd
import pytest

from activeloc import make_activitynet_like, make_splits
from activeloc.dataset import Dataset
from activeloc.localizer import StageWiseLocalizer
from activeloc.loop import TIMING_COLUMNS, ActiveLearningLoop
from activeloc.oracles import SimulatedOracle
from sklearn.exceptions import NotFittedError

from activeloc.selectors import (MCLESelector, PerSecondSelector, RandomSelector, UncertaintySelector,
                                 histogram_entropies, histogram_entropy, make_selector)


def tiny_data(seed=0, n=900):
    gt, feats = make_activitynet_like(n, 12, feature_dim=16, random_state=seed)
    splits = make_splits(gt, random_state=0)
    return Dataset(gt, feats, list(splits.index), splits)


@pytest.fixture(scope="module")
def data():
    return tiny_data()


@pytest.fixture(scope="module")
def fitted(data):
    sel = data.split("selection")
    labelled = sel.subset(sel.video_ids[:100])
    return StageWiseLocalizer(random_state=0).fit(labelled), labelled, sel.subset(sel.video_ids[100:])


@pytest.mark.parametrize("selector", [RandomSelector(), UncertaintySelector(), PerSecondSelector(RandomSelector()),
                                      PerSecondSelector(UncertaintySelector())])
def test_selector_contract(fitted, selector):
    check_selector_contract(fitted, selector)


def check_selector_contract(fitted, selector):
    """Deterministic for a seed, only pool videos, exactly min(B, pool), best first, empty pool."""
    loc, labelled, pool = fitted
    a = selector.select(loc, labelled, pool, 16, random_state=3)
    b = selector.select(loc, labelled, pool, 16, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 16 and a["video_id"].is_unique
    assert set(a["video_id"]) <= set(pool.video_ids) and not set(a["video_id"]) & set(labelled.video_ids)
    assert (np.diff(a["utility"]) <= 0).all() and a["rank"].tolist() == list(range(16))
    small = pool.subset(pool.video_ids[:5])
    assert len(selector.select(loc, labelled, small, 16, random_state=0)) == 5
    empty = selector.select(loc, labelled, pool.subset([]), 16, random_state=0)
    assert len(empty) == 0 and list(empty.columns) == ["video_id", "utility", "rank"]


def test_per_second_ranks_by_utility_per_second_of_video(fitted):
    loc, labelled, pool = fitted
    seconds = pool.ground_truth.videos["duration"].reindex(pool.video_ids).to_numpy()
    per_second = UncertaintySelector().utilities(loc, labelled, pool) / seconds
    chosen = make_selector("uncertainty-per-second").select(loc, labelled, pool, 10, random_state=0)
    assert chosen["video_id"].tolist() == list(np.asarray(pool.video_ids, dtype=object)[np.argsort(-per_second)[:10]])
    assert chosen["utility"].to_numpy() == pytest.approx(np.sort(per_second)[::-1][:10])
    plain = UncertaintySelector().select(loc, labelled, pool, 10, random_state=0)
    assert seconds_of(pool, chosen).sum() < seconds_of(pool, plain).sum()  # cheaper batches to annotate


def seconds_of(pool, chosen):
    return pool.ground_truth.videos["duration"].loc[chosen["video_id"]].to_numpy()


def test_per_second_names_and_errors():
    assert make_selector("lal-per-second").name == "lal-per-second"
    assert make_selector("random").name == "random"
    with pytest.raises(ValueError, match="unknown selector 'foo-per-second'"):
        make_selector("foo-per-second")


def test_uncertainty_prefers_spread_scores():
    assert histogram_entropy(np.array([0.01, 0.02, 0.99, 0.98])) < histogram_entropy(np.linspace(0, 1, 40))
    assert histogram_entropy(np.full(7, 0.5)) == 0.0
    assert histogram_entropy(np.linspace(0, 0.999, 100)) == pytest.approx(np.log(10))


def run_loop(data, checkpoint=None, selector=None, **kwargs):
    sel, test = data.split("selection"), data.split("testing")
    loop = ActiveLearningLoop(StageWiseLocalizer(), selector or UncertaintySelector(),
                              SimulatedOracle(data.ground_truth, noise=0.1), batch_size=64,
                              checkpoint=checkpoint, random_state=5, run_id="t", **kwargs)
    return loop.run(sel, test, progress=False)


def test_loop_runs_to_the_end_and_improves(data):
    result = run_loop(data)
    h = result.history
    n_sel = len(data.split("selection").video_ids)
    assert h["labelled_videos"].iloc[-1] == n_sel and h["labelled_ratio"].iloc[-1] == 1.0
    assert h["labelled_ratio"].iloc[0] == pytest.approx(0.1, abs=0.01)
    assert (np.diff(h["labelled_videos"]) == 64).all() or (np.diff(h["labelled_videos"])[:-1] == 64).all()
    assert h["average_mAP"].iloc[-1] > h["average_mAP"].iloc[0] + 0.02
    sel = result.selections
    assert sel["video_id"].is_unique and len(sel) == n_sel - h["labelled_videos"].iloc[0]
    assert set(h.columns) >= {"run_id", "selector", "seed", "batch_size", "noise", "step", "labelled_videos",
                              "labelled_ratio", "seconds_labelled", "mAP@0.50", "average_mAP", *TIMING_COLUMNS}
    total = data.ground_truth.videos["duration"].loc[list(data.split("selection").video_ids)].sum()
    assert h["seconds_ratio"].to_numpy() == pytest.approx(h["seconds_labelled"].to_numpy() / total)
    assert h["seconds_ratio"].iloc[-1] == pytest.approx(1.0) and h["seconds_ratio"].is_monotonic_increasing


def test_budget_in_videos_and_seconds(data):
    h = run_loop(data, budget_videos=150).history
    assert h["labelled_videos"].iloc[-1] == 150
    start = run_loop(data, max_steps=1).history["seconds_labelled"].iloc[0]
    budget = start + 10_000.0
    h = run_loop(data, budget_seconds=budget, selector=RandomSelector()).history
    assert len(h) > 2 and h["seconds_labelled"].iloc[-2] < budget <= h["seconds_labelled"].iloc[-1]


def test_resume_after_sigkill_equals_uninterrupted(data, tmp_path):
    reference = run_loop(data).history.drop(columns=TIMING_COLUMNS)
    checkpoint = tmp_path / "run.joblib"
    script = f"""
import sys
sys.path.insert(0, {str(os.path.dirname(__file__))!r})
from test_loop import run_loop, tiny_data
run_loop(tiny_data(), checkpoint={str(checkpoint)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline:
        if checkpoint.exists() and joblib.load(checkpoint).step >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = joblib.load(checkpoint).step
    assert 3 <= killed_at < len(reference)  # really interrupted mid-run
    resumed = run_loop(data, checkpoint=checkpoint).history.drop(columns=TIMING_COLUMNS)
    pd.testing.assert_frame_equal(resumed, reference)


@pytest.fixture(scope="module")
def mcle(data):
    return MCLESelector().fit(data.split("knowledge_source"))


def test_mcle_meets_the_selector_contract(fitted, mcle):
    check_selector_contract(fitted, mcle)


def test_mcle_needs_a_prior(fitted):
    loc, labelled, pool = fitted
    with pytest.raises(NotFittedError, match="fit\\(knowledge_source\\)"):
        MCLESelector().select(loc, labelled, pool, 4)


def test_mcle_label_equality_spreads_a_batch_over_classes(fitted, mcle):
    loc, labelled, pool = fitted
    top = loc.attend(pool)
    classes = list(loc.classes_)
    predicted = (top[classes].mul(top["attention"], axis=0).groupby(top["video_id"]).sum().idxmax(axis=1))
    balanced = mcle.select(loc, labelled, pool, 12, random_state=0)
    conflict_only = MCLESelector(balance=0.0)
    conflict_only.prior_ = mcle.prior_
    greedy = conflict_only.select(loc, labelled, pool, 12, random_state=0)
    spread = predicted.loc[balanced["video_id"]].nunique()
    # Balanced: nearly one video per class; by conflict alone: whatever classes conflict most.
    assert spread > predicted.loc[greedy["video_id"]].nunique()
    assert predicted.loc[balanced["video_id"]].value_counts().max() < predicted.loc[greedy["video_id"]].value_counts().max()


def test_mcle_per_second_meets_the_contract_and_picks_shorter_videos(fitted, mcle):
    loc, labelled, pool = fitted
    cost_aware = PerSecondSelector(mcle)
    check_selector_contract(fitted, cost_aware)
    cheap = cost_aware.select(loc, labelled, pool, 12, random_state=0)
    plain = mcle.select(loc, labelled, pool, 12, random_state=0)
    assert seconds_of(pool, cheap).mean() < seconds_of(pool, plain).mean()


def test_vectorised_entropies_match_numpy_histograms():
    rng = np.random.default_rng(0)
    videos = [rng.beta(a, b, n) for a, b, n in ((0.3, 0.3, 50), (2, 5, 7), (1, 1, 113), (5, 1, 1))]
    owner = np.repeat(np.arange(len(videos)), [len(v) for v in videos])
    got = histogram_entropies(np.concatenate(videos), owner, len(videos))
    for value, scores in zip(got, videos):
        counts = np.histogram(scores, bins=10, range=(0, 1))[0]
        p = counts[counts > 0] / counts.sum()
        assert value == pytest.approx(-(p * np.log(p)).sum())
