import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activeloc import aulc, average_precision, evaluate_detections, ratio_to_reach
from activeloc.cli import main
from activeloc.data.annotations import write_results
from activeloc.data.simulator import simulate_detections
from activeloc.evaluation.detection import parse_thresholds
from conftest import reference_map

# Predictions in videos without truth are false positives these tests score on purpose; the warning
# that counts them has its own test (test_faults_inputs.py).
pytestmark = pytest.mark.filterwarnings("ignore:.*videos outside the ground truth:UserWarning")


def frame(rows, cols=("video_id", "t_start", "t_end", "label")):
    return pd.DataFrame(rows, columns=list(cols))


def preds(rows):
    return frame(rows, ("video_id", "t_start", "t_end", "label", "score"))


# --- AP: hand-computed cases ---------------------------------------------------

GT = frame([("v1", 0, 10, "a"), ("v1", 20, 30, "a"), ("v2", 0, 10, "a")])


def test_ap_hand_case_interleaved():
    # TP, FP, TP, (FP), TP by descending score: precision 1, 1/2, 2/3, 2/4, 3/5 at the hits.
    p = preds([("v1", 0, 10, "a", 0.9), ("v1", 50, 60, "a", 0.8), ("v1", 20, 30, "a", 0.7),
               ("v3", 0, 10, "a", 0.6), ("v2", 0, 10, "a", 0.5)])
    expected = (1 + 2 / 3 + 3 / 5) / 3
    assert average_precision(GT, p, 0.5) == pytest.approx(expected, abs=1e-15)


def test_ap_duplicate_detection_is_false_positive_and_envelope():
    # Second detection of the same truth is an FP; the later TP lifts precision at the earlier recall step.
    p = preds([("v1", 0, 10, "a", 0.9), ("v1", 0, 10, "a", 0.8), ("v1", 20, 30, "a", 0.7), ("v2", 0, 10, "a", 0.6)])
    # hits at ranks 1, 3, 4: precision 1, 2/3, 3/4; envelope gives 1, 3/4, 3/4.
    assert average_precision(GT, p, 0.5) == pytest.approx((1 + 0.75 + 0.75) / 3, abs=1e-15)


def test_greedy_takes_highest_tiou_unmatched_truth():
    gt = frame([("v", 0, 10, "a"), ("v", 4, 14, "a")])
    # First (highest score) prediction overlaps truth 2 best (tIoU 1) and truth 1 with 6/14.
    p = preds([("v", 4, 14, "a", 0.9), ("v", 0, 10, "a", 0.8)])
    assert average_precision(gt, p, 0.4) == pytest.approx(1.0)
    # At 0.5 the first takes truth 2; the second then takes truth 1 exactly: still perfect.
    assert average_precision(gt, p, 0.5) == pytest.approx(1.0)


def test_threshold_is_inclusive_and_map_over_truth_classes():
    gt = frame([("v", 0, 10, "a"), ("v", 0, 10, "b")])
    p = preds([("v", 0, 5, "a", 0.9)])  # tIoU exactly 0.5
    res = evaluate_detections(gt, p, [0.5, 0.55])
    np.testing.assert_allclose(res.mAP, [0.5, 0.0])  # class b has no predictions: AP 0
    assert res.ap.loc["b"].tolist() == [0.0, 0.0]


def test_unknown_label_is_an_error_unless_ignored():
    p = preds([("v1", 0, 10, "a", 0.9), ("v1", 0, 10, "zzz", 0.8)])
    with pytest.raises(ValueError, match="zzz"):
        evaluate_detections(GT, p)
    res = evaluate_detections(GT, p, [0.5], ignore_unknown_labels=True)
    assert res.mAP[0] == pytest.approx(1 / 3)


def test_ties_keep_input_order():
    gt = frame([("v", 0, 10, "a")])
    first_hit = preds([("v", 0, 10, "a", 0.5), ("v", 50, 60, "a", 0.5)])
    first_miss = preds([("v", 50, 60, "a", 0.5), ("v", 0, 10, "a", 0.5)])
    assert average_precision(gt, first_hit, 0.5) == 1.0
    assert average_precision(gt, first_miss, 0.5) == 0.5


# --- AP: properties -------------------------------------------------------------

@st.composite
def detection_problem(draw):
    n_videos = draw(st.integers(1, 4))
    classes = ["a", "b", "c"][: draw(st.integers(1, 3))]
    gt_rows = []
    for v in range(n_videos):
        for _ in range(draw(st.integers(1, 3))):
            t0 = draw(st.floats(0, 90))
            gt_rows.append((f"v{v}", t0, t0 + draw(st.floats(1, 30)), draw(st.sampled_from(classes))))
    present = sorted({row[3] for row in gt_rows})
    n_pred = draw(st.integers(1, 15))
    # Scores a millionth apart at least, so that a monotone transform in floating point keeps them distinct.
    scores = [i / 10**6 for i in draw(st.lists(st.integers(1000, 10**6), min_size=n_pred, max_size=n_pred, unique=True))]
    pred_rows = []
    for s in scores:
        t0 = draw(st.floats(0, 90))
        pred_rows.append((f"v{draw(st.integers(0, n_videos))}", t0, t0 + draw(st.floats(1, 30)),
                          draw(st.sampled_from(present)), s))
    return frame(gt_rows), preds(pred_rows)


THR = np.array([0.1, 0.3, 0.5, 0.7, 0.9])


@settings(max_examples=150, deadline=None)
@given(detection_problem())
def test_perfect_detections_score_one(problem):
    gt, _ = problem
    perfect = gt.assign(score=np.linspace(1, 0.5, len(gt)))
    np.testing.assert_allclose(evaluate_detections(gt, perfect, THR).mAP, 1.0)


@settings(max_examples=150, deadline=None)
@given(detection_problem(), st.randoms(use_true_random=False))
def test_invariant_to_monotone_score_transform_and_order(problem, rnd):
    gt, p = problem
    base = evaluate_detections(gt, p, THR).mAP
    transformed = p.assign(score=np.exp(3 * p["score"]) + 7)
    np.testing.assert_allclose(evaluate_detections(gt, transformed, THR).mAP, base, atol=1e-12)
    shuffled = p.sample(frac=1, random_state=rnd.randint(0, 10**6)).reset_index(drop=True)
    np.testing.assert_allclose(evaluate_detections(gt, shuffled, THR).mAP, base, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(detection_problem(), st.floats(0, 90), st.integers(0, 2))
def test_low_false_positive_never_raises_ap(problem, t0, cls):
    gt, p = problem
    label = sorted(gt["label"].unique())[cls % gt["label"].nunique()]
    base = evaluate_detections(gt, p, THR).mAP
    fp = preds([("elsewhere", t0, t0 + 5, label, p["score"].min() / 2)])
    after = evaluate_detections(gt, pd.concat([p, fp], ignore_index=True), THR).mAP
    assert (after <= base + 1e-12).all()


@settings(max_examples=200, deadline=None)
@given(detection_problem())
def test_agrees_with_reference_implementation(problem):
    gt, p = problem
    ours = evaluate_detections(gt, p, THR).mAP
    ref = reference_map(list(gt.itertuples(index=False)), list(p.itertuples(index=False)), THR)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


# --- learning-curve summaries -----------------------------------------------------

def test_aulc_and_ratio_to_reach_hand_cases():
    ratios = [0.1, 0.2, 0.4, 1.0]
    frac = [0.5, 0.7, 0.9, 1.0]
    assert aulc(ratios, frac) == pytest.approx(0.1 * 0.6 + 0.2 * 0.8 + 0.6 * 0.95)
    assert aulc([0.1, 1.0], [1.0, 1.0]) == pytest.approx(0.9)
    assert ratio_to_reach(ratios, frac, 0.8) == pytest.approx(0.3)
    assert ratio_to_reach(ratios, frac, 0.5) == pytest.approx(0.1)
    assert np.isnan(ratio_to_reach(ratios, frac, 1.01))
    assert aulc(ratios[::-1], frac[::-1]) == aulc(ratios, frac)  # order of points does not matter


def test_parse_thresholds():
    np.testing.assert_allclose(parse_thresholds("0.5:0.95:0.05"), np.linspace(0.5, 0.95, 10))
    np.testing.assert_allclose(parse_thresholds("0.1:0.9:0.1"), np.arange(1, 10) / 10)
    np.testing.assert_allclose(parse_thresholds("0.3,0.5"), [0.3, 0.5])


# --- real data: agreement with the official algorithm, through the CLI -------------------

@pytest.mark.parametrize("spec", ["0.5:0.95:0.05", "0.1:0.9:0.1"])
def test_cli_evaluate_agrees_with_official_algorithm_on_activitynet(anet_path, anet_raw, tmp_path, capsys, spec):
    val = anet_raw.subset("validation").instances
    p = simulate_detections(val, 6000, random_state=7)
    results = tmp_path / "results.json"
    write_results(p, results)
    assert main(["evaluate", str(anet_path), str(results), "--subset", "validation", "--tiou", spec]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"tiou_thresholds", "mAP", "average_mAP", "reversed_predictions", "predictions_outside_ground_truth"}
    assert out["reversed_predictions"] == out["predictions_outside_ground_truth"] == 0
    thresholds = parse_thresholds(spec)
    ref = reference_map(list(val.itertuples(index=False)), list(p.itertuples(index=False)), thresholds)
    np.testing.assert_allclose(out["mAP"], ref, rtol=0, atol=1e-9)
    assert out["average_mAP"] == pytest.approx(ref.mean(), abs=1e-9)
    assert 0.05 < out["average_mAP"] < 0.9  # a meaningful range, not a degenerate all-zero case
