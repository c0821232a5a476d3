"""The stage-wise action localizer of the paper (3.1).

1. Video encoder: each candidate segment is the average of the snippet features it covers,
   contrasted with its flanks, plus three geometry columns (:class:`activeloc.dataset.SegmentEncoder`;
   computed once per dataset by :class:`activeloc.dataset.CandidateSet`).
2. Attention module: a linear SVM (hinge loss, trained by averaged SGD so that refits can start
   from the previous weights) separating action from background, then Platt scaling to a
   probability, then hard top-k (k = 10). Positives: candidates with tIoU > 0.7 with a truth.
   Negatives (the paper leaves them open): candidates with tIoU < 0.3 with every truth, sampled
   uniformly at random, ``negatives_per_positive`` of them per positive; candidates in between
   are ambiguous and not used. Platt's sigmoid is fitted by logistic regression on the SVM
   decision values of the candidates of the training videos (positives against the rest), so the
   probabilities are not skewed by the negative sampling.
3. Action classifier: a fully connected layer with a softmax over the classes (multinomial
   logistic regression), trained on the top-k segments of each training video whose tIoU with a
   truth exceeds 0.7, labelled with that truth's class.

Detections (``score_mode``): each video's top-k segments, each paired with the video's
``classes_per_video`` most likely classes (the class posteriors of its top-k segments averaged,
weighted by attention). ``"product"`` scores a detection by attention probability times the
segment's class probability; ``"video"`` uses the video-level class probability instead;
``"attention"`` the attention probability alone. Temporal non-maximum suppression per video and
class at ``nms_tiou`` (None: none). The defaults (``"product"``, one class, NMS at 0.5) are the
best row of the ablation in ``notebooks/02-localizer.ipynb`` (quick profile: average mAP 0.234
against 0.218 without NMS; mAP at 0.5 0.361 against 0.310).
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, SGDClassifier

from .dataset import CandidateSet, Dataset, SegmentEncoder
from .proposals import SlidingWindows

SCORE_MODES = ("product", "video", "attention")


def _top_k(scores: np.ndarray, owner: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores of each owner, grouped by owner, best first (ties: first)."""
    order = np.lexsort((np.arange(len(scores)), -scores, owner))
    starts = np.searchsorted(owner[order], owner[order], side="left")
    return order[np.arange(len(order)) - starts < k]


def grouped_nms(groups: np.ndarray, segments: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy temporal non-maximum suppression within each group: a boolean mask of what is kept.

    Within a group, by descending score (ties in input order), a segment is dropped if its tIoU
    with a kept, higher-scored one exceeds ``threshold``. Written out because no maintained
    library offers 1-D NMS; the groups (a video and a class) hold about ``top_k`` segments, so the
    greedy pass runs over ranks, vectorised over all groups at once.
    """
    keep_mask = np.zeros(len(scores), dtype=bool)
    if len(scores) == 0:
        return keep_mask
    order = np.lexsort((np.arange(len(scores)), -scores, groups))
    g = groups[order]
    first = np.r_[True, g[1:] != g[:-1]]
    group_index = np.cumsum(first) - 1
    rank = np.arange(len(g)) - np.flatnonzero(first)[group_index]
    pad = np.full((group_index[-1] + 1, rank.max() + 1, 2), np.nan)
    pad[group_index, rank] = segments[order]
    valid = ~np.isnan(pad[..., 0])
    inter = np.clip(np.minimum(pad[:, :, None, 1], pad[:, None, :, 1])
                    - np.maximum(pad[:, :, None, 0], pad[:, None, :, 0]), 0, None)
    length = pad[..., 1] - pad[..., 0]
    union = length[:, :, None] + length[:, None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    keep = np.zeros(valid.shape, dtype=bool)
    for r in range(keep.shape[1]):
        suppressed = (keep[:, :r] & (iou[:, r, :r] > threshold)).any(axis=1)
        keep[:, r] = valid[:, r] & ~suppressed
    keep_mask[order] = keep[group_index, rank]
    return keep_mask


class StageWiseLocalizer(BaseEstimator):
    """Candidate segments -> attention (linear SVM + Platt, top-k) -> action classifier (softmax).

    ``fit(dataset)`` trains on the annotations of ``dataset.video_ids``; ``predict(dataset)``
    returns detections for its videos. With ``warm_start=True`` a refit starts the SVM (then
    ``warm_epochs`` passes of SGD) and the logistic classifier from the previous solution. See the
    module docstring for every design choice.
    """

    def __init__(self, candidates=SlidingWindows(), encoder=SegmentEncoder(), top_k: int = 10, positive_tiou: float = 0.7,
                 negative_tiou: float = 0.3, negatives_per_positive: float = 3.0, svm_alpha: float = 1e-4,
                 svm_max_iter: int = 30, classifier_C: float = 1.0, classifier_max_iter: int = 300, classifier_tol: float = 1e-3,
                 score_mode: str = "product", classes_per_video: int = 1, nms_tiou: float | None = 0.5,
                 warm_start: bool = False, warm_epochs: int = 3, random_state=None):
        self.candidates = candidates
        self.encoder = encoder
        self.top_k = top_k
        self.positive_tiou = positive_tiou
        self.negative_tiou = negative_tiou
        self.negatives_per_positive = negatives_per_positive
        self.svm_alpha = svm_alpha
        self.svm_max_iter = svm_max_iter
        self.classifier_C = classifier_C
        self.classifier_max_iter = classifier_max_iter
        self.classifier_tol = classifier_tol
        self.score_mode = score_mode
        self.classes_per_video = classes_per_video
        self.nms_tiou = nms_tiou
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.random_state = random_state

    # -- training ---------------------------------------------------------------------------

    def fit(self, dataset: Dataset) -> StageWiseLocalizer:
        cs, rows, owner, cls, positive, decision, seed = self._fit_attention(dataset)
        top = _top_k(decision, owner, self.top_k)
        train = top[positive[top]]
        self._fit_classifier(self._standardised(cs, rows[train]), cls[train], seed)
        return self

    def fit_attention(self, dataset: Dataset) -> StageWiseLocalizer:
        """Train the attention module only (what LAL's Monte-Carlo procedure retrains): after it,
        attention scores are available, class posteriors and detections are not."""
        self._fit_attention(dataset)
        self.classifier_, self.classifier_classes_ = None, None
        return self

    def _fit_attention(self, dataset: Dataset):
        if self.score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {self.score_mode!r}")
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31))
        cs = dataset.candidates(self.candidates, self.encoder)
        ids = list(dataset.video_ids)
        instances = dataset.instances
        if instances.empty:
            raise ValueError("no annotated instances among the training videos")
        self.classes_ = np.array(sorted(instances["label"].unique()))
        rows, owner, best, cls = cs.overlaps(ids, instances, self.classes_)
        positive = best > self.positive_tiou
        if not positive.any():
            raise ValueError(f"no candidate of the {len(ids)} training videos has tIoU > {self.positive_tiou} "
                             "with a truth: nothing to learn actions from")
        negatives = np.flatnonzero(best < self.negative_tiou)
        n_neg = min(len(negatives), int(np.ceil(self.negatives_per_positive * positive.sum())))
        chosen = np.concatenate([np.flatnonzero(positive), np.sort(rng.choice(negatives, n_neg, replace=False))])

        mean, scale = self._standardisation(cs)
        x = self._standardised(cs, rows[chosen])
        svm = getattr(self, "svm_", None) if self.warm_start else None
        if svm is None:
            svm = SGDClassifier(loss="hinge", alpha=self.svm_alpha, max_iter=self.svm_max_iter, tol=1e-3,
                                average=True, random_state=seed)
            svm.fit(x, positive[chosen])
        else:
            # From the previous weights a few passes suffice: a batch changes the optimum little.
            for _ in range(self.warm_epochs):
                svm.partial_fit(x, positive[chosen])
        self.svm_ = svm
        self.mean_, self.scale_ = mean, scale
        self.coef_ = (svm.coef_[0] / scale).astype(np.float32)
        self.intercept_ = float(svm.intercept_[0] - (svm.coef_[0] * mean / scale).sum())

        # Platt scaling on the candidates of the training videos (an even sample of at most 200,000:
        # two parameters need no more, and Newton's method then takes a fraction of a second).
        decision = self._decision(cs)[rows]
        step = max(1, len(rows) // 200_000)
        platt = LogisticRegression(C=1e4, solver="newton-cholesky").fit(decision[::step, None], positive[::step])
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.n_training_videos_ = len(ids)
        self.positive_fraction_ = float(positive.mean())
        return cs, rows, owner, cls, positive, decision, seed

    @staticmethod
    def _standardisation(cs: CandidateSet) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread of the candidates' features (every row up to 200,000, else an even
        sample of that many): unsupervised, so fixed across refits."""
        if not hasattr(cs, "standardisation"):
            sample = cs.features[:: max(1, len(cs.features) // 200_000)]
            mean = sample.mean(axis=0, dtype=np.float64)
            std = sample.std(axis=0, dtype=np.float64)
            cs.standardisation = (mean.astype(np.float32), np.where(std > 0, std, 1).astype(np.float32))
        return cs.standardisation

    @staticmethod
    def _standardised(cs: CandidateSet, rows: np.ndarray) -> np.ndarray:
        """Standardised features of ``rows``, in place on the gathered copy (the matrix can be large)."""
        mean, scale = cs.standardisation
        x = cs.features[rows]
        x -= mean
        x /= scale
        return x

    def _fit_classifier(self, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        seen = np.unique(y)
        self.classifier_classes_ = seen
        if len(seen) < 2:
            self.classifier_ = None  # a single class seen: it gets probability 1
            return
        clf = getattr(self, "classifier_", None) if self.warm_start else None
        if clf is None or not np.array_equal(clf.classes_, seen):
            clf = LogisticRegression(C=self.classifier_C, max_iter=self.classifier_max_iter, tol=self.classifier_tol,
                                     warm_start=self.warm_start, random_state=seed)
        self.classifier_ = clf.fit(x, y)

    # -- inference ------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "platt_"):
            raise NotFittedError("this StageWiseLocalizer is not fitted yet: call fit(dataset) first")

    def _attention(self, dataset: Dataset):
        """Candidate rows of the dataset's videos, their owner position, and attention probabilities."""
        self._check_fitted()
        cs = dataset.candidates(self.candidates, self.encoder)
        rows, owner = cs.rows(dataset.video_ids)
        a, b = self.platt_
        return cs, rows, owner, 1 / (1 + np.exp(-(a * self._decision(cs)[rows] + b)))

    def _decision(self, cs: CandidateSet) -> np.ndarray:
        """SVM decision values of every candidate of the set: one product over the whole matrix
        costs less than gathering the rows of a subset first, which would copy them. Kept until
        the next fit, since a loop step reads them three times (fit, selection, prediction)."""
        cached = self.__dict__.get("_decision_cache")
        if cached is None or cached[0]() is not cs or cached[1] is not self.coef_:
            cached = (weakref.ref(cs), self.coef_, cs.features @ self.coef_ + np.float32(self.intercept_))
            self._decision_cache = cached
        return cached[2]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_decision_cache", None)  # derived, and tied to a candidate set: not saved
        return state

    def _posteriors(self, features: np.ndarray) -> np.ndarray:
        if self.classifier_classes_ is None:
            raise NotFittedError("only the attention module is fitted (fit_attention): no class posteriors")
        out = np.zeros((len(features), len(self.classes_)))
        if self.classifier_ is None:
            out[:, self.classifier_classes_[0]] = 1.0
        elif len(features):
            out[:, self.classifier_.classes_] = self.classifier_.predict_proba((features - self.mean_) / self.scale_)
        return out

    def attention_scores(self, dataset: Dataset) -> dict[str, np.ndarray]:
        """Per video, the attention probability of every candidate, in candidate order (the paper's X)."""
        _, _, owner, prob = self._attention(dataset)
        bounds = np.searchsorted(owner, np.arange(len(dataset.video_ids) + 1))
        return {vid: prob[bounds[i]:bounds[i + 1]] for i, vid in enumerate(dataset.video_ids)}

    def attention_detections(self, dataset: Dataset) -> pd.DataFrame:
        """Each video's top-k segments as class-agnostic detections (label ``"action"``, score = attention)."""
        cs, rows, owner, prob = self._attention(dataset)
        top = _top_k(prob, owner, self.top_k)
        return pd.DataFrame({"video_id": np.asarray(dataset.video_ids, dtype=object)[owner[top]],
                             "t_start": cs.segments[rows[top], 0], "t_end": cs.segments[rows[top], 1],
                             "label": "action", "score": prob[top]})

    def _top(self, dataset: Dataset):
        """Each video's top-k candidates, grouped by video, best first: rows, owners, attention, posteriors."""
        cs, rows, owner, prob = self._attention(dataset)
        top = _top_k(prob, owner, self.top_k)
        return cs, rows[top], owner[top], prob[top], self._posteriors(cs.features[rows[top]])

    def attend(self, dataset: Dataset) -> pd.DataFrame:
        """The top-k segments of each video: ``video_id, rank, t_start, t_end, attention`` plus one
        column per class with its posterior probability."""
        cs, rows, owner, attention, post = self._top(dataset)
        frame = pd.DataFrame({
            "video_id": np.asarray(dataset.video_ids, dtype=object)[owner],
            "rank": np.arange(len(owner)) - np.searchsorted(owner, owner),
            "t_start": cs.segments[rows, 0],
            "t_end": cs.segments[rows, 1],
            "attention": attention,
        })
        return pd.concat([frame, pd.DataFrame(post, columns=self.classes_)], axis=1)

    def class_posteriors(self, dataset: Dataset) -> dict[str, np.ndarray]:
        """Per video, the ``(k, n_classes)`` class posteriors of its top-k segments (columns: ``classes_``)."""
        _, _, owner, _, post = self._top(dataset)
        bounds = np.searchsorted(owner, np.arange(len(dataset.video_ids) + 1))
        return {vid: post[bounds[i]:bounds[i + 1]] for i, vid in enumerate(dataset.video_ids)}

    @staticmethod
    def _video_probabilities(n_videos: int, owner: np.ndarray, attention: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Video-level class distribution: the attention-weighted mean of its top-k posteriors."""
        weights = np.zeros((n_videos, post.shape[1]))
        np.add.at(weights, owner, post * attention[:, None])
        return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)

    def video_class_probabilities(self, dataset: Dataset) -> np.ndarray:
        """``(videos, n_classes)``: each video's class distribution (columns: ``classes_``), as detections use it."""
        _, _, owner, attention, post = self._top(dataset)
        return self._video_probabilities(len(dataset.video_ids), owner, attention, post)

    def predict(self, dataset: Dataset) -> pd.DataFrame:
        """Detections ``video_id, t_start, t_end, label, score`` for the dataset's videos."""
        cs, rows, owner, attention, post = self._top(dataset)
        video_prob = self._video_probabilities(len(dataset.video_ids), owner, attention, post)
        m = min(self.classes_per_video, len(self.classes_))
        chosen = np.argsort(-video_prob, axis=1, kind="stable")[:, :m]  # (videos, m)
        det_row = np.repeat(np.arange(len(rows)), m)
        det_cls = chosen[owner].reshape(-1)
        if self.score_mode == "product":
            score = attention[det_row] * post[det_row, det_cls]
        elif self.score_mode == "video":
            score = attention[det_row] * video_prob[owner[det_row], det_cls]
        else:
            score = attention[det_row]
        segments = cs.segments[rows[det_row]]
        keep = np.ones(len(det_row), dtype=bool)
        if self.nms_tiou is not None:
            keep = grouped_nms(owner[det_row] * len(self.classes_) + det_cls, segments, score, self.nms_tiou)
        return pd.DataFrame({
            "video_id": np.asarray(dataset.video_ids, dtype=object)[owner[det_row[keep]]],
            "t_start": segments[keep, 0],
            "t_end": segments[keep, 1],
            "label": self.classes_[det_cls[keep]],
            "score": score[keep],
        })

    def state(self) -> dict:
        """What the learned selectors read: SVM weights (in feature space) and bias, Platt
        parameters, the number of training videos and the fraction of positive candidates."""
        self._check_fitted()
        return {
            "coef": self.coef_.copy(),
            "intercept": self.intercept_,
            "platt": self.platt_,
            "n_training_videos": self.n_training_videos_,
            "positive_fraction": self.positive_fraction_,
        }
