import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from activeloc.active.baselines import RandomSelector, UncertaintySelector
from activeloc.active.loop import TIMING_COLUMNS, ActiveLearningLoop, read_checkpoint
from activeloc.active.oracles import SimulatedOracle
from activeloc.localization.localizer import StageWiseLocalizer

from conftest import run_loop


def test_loop_runs_to_the_end_and_improves(data):
    result = run_loop(data)
    h = result.history
    n_sel = len(data.split("selection").video_ids)
    assert h["labelled_videos"].iloc[-1] == n_sel and h["labelled_ratio"].iloc[-1] == 1.0
    assert h["labelled_ratio"].iloc[0] == pytest.approx(0.1, abs=0.01)
    steps = np.diff(h["labelled_videos"])
    assert (steps[:-1] == 64).all() and 0 < steps[-1] <= 64
    assert h["average_mAP"].iloc[-1] > h["average_mAP"].iloc[0] + 0.02
    sel = result.selections
    assert sel["video_id"].is_unique and len(sel) == n_sel - h["labelled_videos"].iloc[0]
    assert set(h.columns) >= {"run_id", "selector", "seed", "batch_size", "noise", "step", "labelled_videos",
                              "labelled_ratio", "seconds_labelled", "mAP@0.50", "average_mAP",
                              "convergence_warnings", *TIMING_COLUMNS}
    total = data.ground_truth.videos["duration"].loc[list(data.split("selection").video_ids)].sum()
    assert h["seconds_ratio"].to_numpy() == pytest.approx(h["seconds_labelled"].to_numpy() / total)
    assert h["seconds_ratio"].iloc[-1] == pytest.approx(1.0) and h["seconds_ratio"].is_monotonic_increasing


@pytest.mark.parametrize("selector", [RandomSelector(), UncertaintySelector()])
def test_evaluating_every_few_steps_changes_no_selection(data, selector):
    """Evaluations every 20 % of Selection: the same selections as evaluating every step (Random
    also skips the refits it does not read), and rows at the evaluated steps only, equal to those
    steps' rows of the full history, first and last included."""
    every = run_loop(data, selector=selector)
    sparse = run_loop(data, selector=selector, evaluate_every=0.2)
    pd.testing.assert_frame_equal(sparse.selections, every.selections)
    h, full = sparse.history, every.history.set_index("step")
    assert h["step"].iloc[0] == 0 and h["step"].iloc[-1] == full.index[-1] and 3 <= len(h) < len(full)
    assert (np.diff(h["labelled_ratio"])[:-1] >= 0.2 - 1e-9).all()
    shown = [c for c in h.columns if c.startswith("mAP@") or c in ("average_mAP", "labelled_videos")]
    np.testing.assert_allclose(h[shown].to_numpy(float), full.loc[h["step"], shown].to_numpy(float), atol=1e-12)
    assert h["evaluate_seconds"].gt(0).all() and h["select_seconds"].iloc[:-1].gt(0).all()


def test_budget_in_videos_and_seconds(data):
    h = run_loop(data, budget_videos=150).history
    assert h["labelled_videos"].iloc[-1] == 150
    start = run_loop(data, max_steps=1).history["seconds_labelled"].iloc[0]
    budget = start + 10_000.0
    h = run_loop(data, budget_seconds=budget, selector=RandomSelector()).history
    assert len(h) > 2 and h["seconds_labelled"].iloc[-2] < budget <= h["seconds_labelled"].iloc[-1]


def test_a_batch_size_below_one_is_refused(data):
    loop = ActiveLearningLoop(StageWiseLocalizer(), RandomSelector(), SimulatedOracle(data.ground_truth), batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        loop.run(data.split("selection"), data.split("testing"), progress=False)


def test_the_selector_sees_a_label_blind_pool(data):
    seen = []

    class Recording(UncertaintySelector):
        def select(self, localizer, labelled, pool, batch_size, random_state=None, cost=None):
            seen.append(type(pool).__name__)
            return super().select(localizer, labelled, pool, batch_size, random_state, cost)

    run_loop(data, max_steps=2, selector=Recording())
    assert seen == ["VideoSet"]


def test_an_unseeded_run_records_the_seed_it_drew(data):
    def run(random_state):
        loop = ActiveLearningLoop(StageWiseLocalizer(), RandomSelector(), SimulatedOracle(data.ground_truth),
                                  batch_size=64, max_steps=2, random_state=random_state)
        return loop.run(data.split("selection"), data.split("testing"), progress=False)

    unseeded = run(None)
    seed = int(unseeded.history["seed"].iloc[0])
    again = run(seed)  # the recorded seed replays the run
    pd.testing.assert_frame_equal(again.history.drop(columns=TIMING_COLUMNS),
                                  unseeded.history.drop(columns=TIMING_COLUMNS))
    pd.testing.assert_frame_equal(again.selections, unseeded.selections)


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted(data, tmp_path):
    reference = run_loop(data).history.drop(columns=TIMING_COLUMNS)
    checkpoint = tmp_path / "run.joblib"
    script = f"""
import sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from conftest import run_loop, simulated_dataset
run_loop(simulated_dataset(), checkpoint={str(checkpoint)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline:
        if checkpoint.exists() and read_checkpoint(checkpoint).step >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = read_checkpoint(checkpoint).step
    assert 3 <= killed_at < len(reference)  # really interrupted mid-run
    resumed = run_loop(data, checkpoint=checkpoint).history.drop(columns=TIMING_COLUMNS)
    pd.testing.assert_frame_equal(resumed, reference)
