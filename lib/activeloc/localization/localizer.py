"""The stage-wise action localizer of the paper (3.1).

1. Video encoder: each candidate segment (from a proposal source, sliding windows by default) is
   the average of the snippet features it covers, contrasted with its flanks, plus three geometry
   columns (:class:`~activeloc.localization.encoding.SegmentEncoder`; computed once per set of
   videos, :func:`~activeloc.localization.encoding.candidate_matrix`). Both stages see the features
   standardised by the mean and spread of the training videos' candidates, fitted in ``fit``
   (``mean_``, ``scale_``; a warm refit keeps those of the fit it continues): no pool or test
   video is looked at.
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
best row of the ablation in ``notebooks/02-localizer.ipynb``.

Solvers stop at their iteration limits (``svm_max_iter``, ``classifier_max_iter``); a fit that
stops there is counted in ``convergence_warnings_`` instead of printing scikit-learn's warning, so
that a grid of thousands of fits reports one number, not a wall of warnings.
"""

from __future__ import annotations

import warnings
import weakref
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..core.errors import InputError
from ..data.dataset import Dataset, VideoSet
from .encoding import CandidateMatrix, SegmentEncoder, candidate_matrix
from .proposals import SlidingWindows
from .segments import grouped_nms, top_k_per_group

SCORE_MODES = ("product", "video", "attention")


class TrainingDataError(InputError, ValueError):
    """The training videos' annotations leave nothing to learn from."""


class StageWiseLocalizer(BaseEstimator):
    """Candidate segments -> attention (linear SVM + Platt, top-k) -> action classifier (softmax).

    ``fit(dataset)`` trains on the annotations of ``dataset.video_ids``; ``predict(videos)``
    returns detections for its videos (a :class:`~activeloc.data.dataset.VideoSet` suffices: no
    annotation is read). With ``warm_start=True`` a refit starts the SVM (then ``warm_epochs``
    passes of SGD) and the logistic classifier from the previous solution. See the module
    docstring for every design choice.
    """

    def __init__(self, proposals=SlidingWindows(), encoder=SegmentEncoder(), top_k: int = 10,
                 positive_tiou: float = 0.7, negative_tiou: float = 0.3, negatives_per_positive: float = 3.0,
                 svm_alpha: float = 1e-4, svm_max_iter: int = 30, classifier_C: float = 1.0,
                 classifier_max_iter: int = 300, classifier_tol: float = 1e-3, score_mode: str = "product",
                 classes_per_video: int = 1, nms_tiou: float | None = 0.5, warm_start: bool = False,
                 warm_epochs: int = 3, random_state=None):
        self.proposals = proposals
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
        with self._counting_convergence():
            cm, rows, owner, cls, positive, decision, seed = self._fit_attention(dataset)
            top = top_k_per_group(decision, owner, self.top_k)
            train = top[positive[top]]
            if not len(train):
                # With very few training videos the attention may rank no positive in its top-k; the
                # classifier would then know no class, and every prediction would fail.
                raise TrainingDataError(
                    f"no candidate with tIoU > {self.positive_tiou} is among the top {self.top_k} of any of the "
                    f"{len(dataset.video_ids)} training videos: no example to train the action classifier on "
                    "(label more videos)")
            self._fit_classifier(self._standardised(cm, rows[train]), cls[train], seed)
        return self

    def fit_attention(self, dataset: Dataset) -> StageWiseLocalizer:
        """Train the attention module only (what LAL's Monte-Carlo procedure retrains): after it,
        attention scores are available, class posteriors and detections are not."""
        with self._counting_convergence():
            self._fit_attention(dataset)
        self.classifier_, self.classifier_classes_ = None, None
        return self

    @contextmanager
    def _counting_convergence(self):
        """Count the solvers' convergence warnings of a fit into ``convergence_warnings_``; other
        warnings are issued as usual."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            yield
        self.convergence_warnings_ = 0
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.convergence_warnings_ += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _fit_attention(self, dataset: Dataset):
        if self.score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {self.score_mode!r}")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        cm = candidate_matrix(dataset, self.proposals, self.encoder)
        ids = list(dataset.video_ids)
        instances = dataset.instances
        if instances.empty:
            raise TrainingDataError("no annotated instances among the training videos")
        self.classes_ = np.array(sorted(instances["label"].unique()))
        rows, owner, best, cls = cm.overlaps(ids, instances, self.classes_)
        positive = best > self.positive_tiou
        if not positive.any():
            raise TrainingDataError(f"no candidate of the {len(ids)} training videos has tIoU > {self.positive_tiou} "
                                    "with a truth: nothing to learn actions from")
        negatives = np.flatnonzero(best < self.negative_tiou)
        n_neg = min(len(negatives), int(np.ceil(self.negatives_per_positive * positive.sum())))
        chosen = np.concatenate([np.flatnonzero(positive), np.sort(rng.choice(negatives, n_neg, replace=False))])

        svm = getattr(self, "svm_", None) if self.warm_start else None
        if svm is None:
            self.mean_, self.scale_ = _standardisation(cm, ids)
            svm = SGDClassifier(loss="hinge", alpha=self.svm_alpha, max_iter=self.svm_max_iter, tol=1e-3,
                                average=True, random_state=seed)
            svm.fit(self._standardised(cm, rows[chosen]), positive[chosen])
        else:
            # A warm refit keeps the standardisation of the fit it continues: the solvers' weights
            # live in that space, and moving it under them would start them from the wrong place.
            x = self._standardised(cm, rows[chosen])
            for _ in range(self.warm_epochs):
                svm.partial_fit(x, positive[chosen])
        self.svm_ = svm
        self.coef_ = (svm.coef_[0] / self.scale_).astype(np.float32)
        self.intercept_ = float(svm.intercept_[0] - (svm.coef_[0] * self.mean_ / self.scale_).sum())

        # Platt scaling on the candidates of the training videos (an even sample of at most 200,000:
        # two parameters need no more, and Newton's method then takes a fraction of a second).
        decision = self._decision(cm)[rows]
        step = max(1, len(rows) // 200_000)
        platt = LogisticRegression(C=1e4, solver="newton-cholesky").fit(decision[::step, None], positive[::step])
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.n_training_videos_ = len(ids)
        self.positive_fraction_ = float(positive.mean())
        return cm, rows, owner, cls, positive, decision, seed

    def _standardised(self, cm: CandidateMatrix, rows: np.ndarray) -> np.ndarray:
        """Standardised features of ``rows``, in place on the gathered copy (the matrix can be large)."""
        x = cm.features[rows]
        x -= self.mean_
        x /= self.scale_
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

    def _attention(self, videos: VideoSet):
        """Candidate rows of the videos, their owner position, and attention probabilities."""
        check_is_fitted(self, "platt_")
        cm = candidate_matrix(videos, self.proposals, self.encoder)
        rows, owner = cm.rows(videos.video_ids)
        a, b = self.platt_
        return cm, rows, owner, 1 / (1 + np.exp(-(a * self._decision(cm)[rows] + b)))

    def _decision(self, cm: CandidateMatrix) -> np.ndarray:
        """SVM decision values of every candidate of the matrix: one product over the whole matrix
        costs less than gathering the rows of a subset first, which would copy them. Kept until
        the next fit, since a loop step reads them three times (fit, selection, prediction)."""
        cached = self.__dict__.get("_decision_cache")
        if cached is None or cached[0]() is not cm or cached[1] is not self.coef_:
            cached = (weakref.ref(cm), self.coef_, cm.features @ self.coef_ + np.float32(self.intercept_))
            self._decision_cache = cached
        return cached[2]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_decision_cache", None)  # derived, and tied to a candidate matrix: not saved
        return state

    def _posteriors(self, features: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "classifier_classes_")
        if self.classifier_classes_ is None:
            raise ValueError("only the attention module is fitted (fit_attention): no class posteriors")
        out = np.zeros((len(features), len(self.classes_)))
        if self.classifier_ is None:
            out[:, self.classifier_classes_[0]] = 1.0
        elif len(features):
            out[:, self.classifier_.classes_] = self.classifier_.predict_proba((features - self.mean_) / self.scale_)
        return out

    def attention_scores(self, videos: VideoSet) -> dict[str, np.ndarray]:
        """Per video, the attention probability of every candidate, in candidate order (the paper's X)."""
        _, _, owner, prob = self._attention(videos)
        bounds = np.searchsorted(owner, np.arange(len(videos.video_ids) + 1))
        return {vid: prob[bounds[i]:bounds[i + 1]] for i, vid in enumerate(videos.video_ids)}

    def attention_detections(self, videos: VideoSet) -> pd.DataFrame:
        """Each video's top-k segments as class-agnostic detections (label ``"action"``, score = attention)."""
        cm, rows, owner, prob = self._attention(videos)
        top = top_k_per_group(prob, owner, self.top_k)
        return pd.DataFrame({"video_id": np.asarray(videos.video_ids, dtype=object)[owner[top]],
                             "t_start": cm.segments[rows[top], 0], "t_end": cm.segments[rows[top], 1],
                             "label": "action", "score": prob[top]})

    def _top(self, videos: VideoSet):
        """Each video's top-k candidates, grouped by video, best first: rows, owners, attention, posteriors."""
        cm, rows, owner, prob = self._attention(videos)
        top = top_k_per_group(prob, owner, self.top_k)
        return cm, rows[top], owner[top], prob[top], self._posteriors(cm.features[rows[top]])

    def attend(self, videos: VideoSet) -> pd.DataFrame:
        """The top-k segments of each video: ``video_id, rank, t_start, t_end, attention`` plus one
        column per class with its posterior probability."""
        cm, rows, owner, attention, post = self._top(videos)
        frame = pd.DataFrame({
            "video_id": np.asarray(videos.video_ids, dtype=object)[owner],
            "rank": np.arange(len(owner)) - np.searchsorted(owner, owner),
            "t_start": cm.segments[rows, 0],
            "t_end": cm.segments[rows, 1],
            "attention": attention,
        })
        return pd.concat([frame, pd.DataFrame(post, columns=self.classes_)], axis=1)

    def class_posteriors(self, videos: VideoSet) -> dict[str, np.ndarray]:
        """Per video, the ``(k, n_classes)`` class posteriors of its top-k segments (columns: ``classes_``)."""
        _, _, owner, _, post = self._top(videos)
        bounds = np.searchsorted(owner, np.arange(len(videos.video_ids) + 1))
        return {vid: post[bounds[i]:bounds[i + 1]] for i, vid in enumerate(videos.video_ids)}

    @staticmethod
    def _video_probabilities(n_videos: int, owner: np.ndarray, attention: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Video-level class distribution: the attention-weighted mean of its top-k posteriors."""
        weights = np.zeros((n_videos, post.shape[1]))
        np.add.at(weights, owner, post * attention[:, None])
        return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)

    def video_class_probabilities(self, videos: VideoSet) -> np.ndarray:
        """``(videos, n_classes)``: each video's class distribution (columns: ``classes_``), as detections use it."""
        _, _, owner, attention, post = self._top(videos)
        return self._video_probabilities(len(videos.video_ids), owner, attention, post)

    def predict(self, videos: VideoSet) -> pd.DataFrame:
        """Detections ``video_id, t_start, t_end, label, score`` for the videos."""
        cm, rows, owner, attention, post = self._top(videos)
        video_prob = self._video_probabilities(len(videos.video_ids), owner, attention, post)
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
        segments = cm.segments[rows[det_row]]
        keep = np.ones(len(det_row), dtype=bool)
        if self.nms_tiou is not None:
            keep = grouped_nms(owner[det_row] * len(self.classes_) + det_cls, segments, score, self.nms_tiou)
        return pd.DataFrame({
            "video_id": np.asarray(videos.video_ids, dtype=object)[owner[det_row[keep]]],
            "t_start": segments[keep, 0],
            "t_end": segments[keep, 1],
            "label": self.classes_[det_cls[keep]],
            "score": score[keep],
        })

    def state(self) -> dict:
        """What the learned selectors read: SVM weights (in feature space) and bias, Platt
        parameters, the number of training videos and the fraction of positive candidates."""
        check_is_fitted(self, "platt_")
        return {
            "coef": self.coef_.copy(),
            "intercept": self.intercept_,
            "platt": self.platt_,
            "n_training_videos": self.n_training_videos_,
            "positive_fraction": self.positive_fraction_,
        }


def _standardisation(cm: CandidateMatrix, video_ids) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of every candidate feature of the training videos; a constant column gets spread 1."""
    n, sums, squares = cm.moments(video_ids)
    mean = sums / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1).astype(np.float32)
