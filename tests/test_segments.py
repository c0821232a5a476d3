import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from activeloc.localization.segments import grouped_nms, grouped_ranking, segment_iou, tiou, top_k_per_group

def test_tiou_hand_cases():
    got = tiou([[0, 10]], [[0, 10], [5, 15], [10, 20], [2, 4], [20, 30]])[0]
    np.testing.assert_allclose(got, [1.0, 5 / 15, 0.0, 0.2, 0.0])
    assert tiou([[3, 3]], [[3, 3]])[0, 0] == 0.0  # empty union


segment = st.tuples(st.floats(0, 1000), st.floats(0.01, 500)).map(lambda s: (s[0], s[0] + s[1]))


@given(st.lists(segment, min_size=1, max_size=8), st.lists(segment, min_size=1, max_size=8))
def test_tiou_properties(a, b):
    m = tiou(a, b)
    assert m.shape == (len(a), len(b))
    assert ((m >= 0) & (m <= 1 + 1e-12)).all()
    np.testing.assert_allclose(m, tiou(b, a).T)
    np.testing.assert_allclose(np.diag(tiou(a, a)), 1.0)



def test_segment_iou_broadcasts_and_ignores_padding():
    a = np.array([[0.0, 10.0], [5.0, 15.0]])
    np.testing.assert_allclose(segment_iou(a, np.array([0.0, 10.0])), [1.0, 5 / 15])
    np.testing.assert_allclose(segment_iou(a[:, None, :], a[None, :, :]), tiou(a, a))
    assert segment_iou([0.0, 1.0], [np.nan, np.nan]) == 0.0


def test_grouped_ranking_hand_case():
    groups = np.array([1, 0, 1, 0, 1])
    scores = np.array([0.5, 0.2, 0.9, 0.2, 0.5])
    order, rank = grouped_ranking(groups, scores)
    # group 0: the two 0.2 in input order; group 1: 0.9, then the two 0.5 in input order
    assert order.tolist() == [1, 3, 2, 0, 4] and rank.tolist() == [0, 1, 0, 1, 2]
    assert top_k_per_group(scores, groups, 1).tolist() == [1, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.25, 0.5, 1.0, float("nan")])), max_size=40),
       st.integers(1, 6))
def test_top_k_per_group_is_the_head_of_each_groups_ranking(pairs, k):
    """Row-wise sorting of padded groups gives exactly the first k of grouped_ranking per group, ties
    (frequent here) in input order, NaN last."""
    groups = np.array([g for g, _ in pairs], dtype=int)
    scores = np.array([s for _, s in pairs], dtype=float)
    order, rank = grouped_ranking(groups, scores)
    assert top_k_per_group(scores, groups, k).tolist() == order[rank < k].tolist()


def literal_nms(groups, segments, scores, threshold):
    """One group at a time, one segment at a time."""
    keep = np.zeros(len(scores), dtype=bool)
    for g in np.unique(groups):
        kept = []
        for i in sorted(np.flatnonzero(groups == g), key=lambda i: (-scores[i], i)):
            if all(tiou(segments[i], segments[j])[0, 0] <= threshold for j in kept):
                kept.append(i)
        keep[kept] = True
    return keep


def test_nms_hand_case():
    keep = grouped_nms(np.array([0, 0, 0, 1, 1]), np.array([[0, 10], [1, 10], [20, 30.0], [0, 10], [1, 10]]),
                       np.array([0.5, 0.9, 0.1, 0.5, 0.4]), 0.5)
    np.testing.assert_array_equal(keep, [False, True, True, True, False])  # per group: video and class


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 50), st.floats(0.5, 30), st.integers(0, 5)),
                min_size=1, max_size=25), st.sampled_from([0.3, 0.5, 0.7]))
def test_nms_agrees_with_the_literal_greedy_pass(rows, threshold):
    groups = np.array([r[0] for r in rows])
    segments = np.array([[r[1], r[1] + r[2]] for r in rows])
    scores = np.array([r[3] / 5 for r in rows])  # few distinct scores: ties are exercised
    np.testing.assert_array_equal(grouped_nms(groups, segments, scores, threshold),
                                  literal_nms(groups, segments, scores, threshold))
