"""Layer 3, evaluation: detection mAP, proposal recall and learning-curve summaries."""

from .curves import (aggregate, aulc, censor_unreached, mean_ci, paired_difference_curve, paired_differences,
                     ratio_to_reach, summarize_runs)
from .detection import (ACTIVITYNET_TIOU, DetectionEvaluation, attention_map, average_precision, evaluate_detections,
                        evaluate_localizer)
from .recall import average_recall, proposal_summary

__all__ = ["ACTIVITYNET_TIOU", "DetectionEvaluation", "aggregate", "attention_map", "aulc", "average_precision", "average_recall",
           "censor_unreached", "evaluate_detections", "evaluate_localizer", "mean_ci", "paired_difference_curve",
           "paired_differences", "proposal_summary", "ratio_to_reach", "summarize_runs"]
