"""The statistics of evaluation (SPEC step 7), as pure functions over plain arrays: one entry
per judgment, labels of any hashable type. No models or queries here: selectors read the
judgments into arrays and the pages, API and exports present what these return."""

from evaluation.stats.aggregate import (
    ChoiceAggregate,
    RatingAggregate,
    aggregate_ratings,
    majority_choice,
)
from evaluation.stats.agreement import (
    AnnotatorAgreement,
    Drift,
    GoldAccuracy,
    PairAgreement,
    alpha,
    alpha_by_group,
    annotator_drift,
    gold_accuracy,
    leave_one_out_agreement,
    others_mean,
    pair_agreement,
    pair_agreement_by_group,
    plurality_agreement,
)
from evaluation.stats.bias import (
    BinomialReport,
    RatingHistograms,
    length_bias,
    position_bias,
    position_bias_by_annotator,
    rating_histograms,
)
from evaluation.stats.dawid_skene import DawidSkene, dawid_skene
from evaluation.stats.head_to_head import RoundComparison, round_verdict
from evaluation.stats.ranking import (
    BradleyTerry,
    Estimate,
    WinRates,
    bradley_terry,
    mean_ratings,
    outcome_scores,
    overlapping_pairs,
    win_rates,
)

__all__ = [
    "AnnotatorAgreement",
    "BinomialReport",
    "BradleyTerry",
    "ChoiceAggregate",
    "DawidSkene",
    "Drift",
    "Estimate",
    "GoldAccuracy",
    "PairAgreement",
    "RatingAggregate",
    "RatingHistograms",
    "RoundComparison",
    "WinRates",
    "aggregate_ratings",
    "alpha",
    "alpha_by_group",
    "annotator_drift",
    "bradley_terry",
    "dawid_skene",
    "gold_accuracy",
    "leave_one_out_agreement",
    "length_bias",
    "majority_choice",
    "mean_ratings",
    "others_mean",
    "outcome_scores",
    "overlapping_pairs",
    "pair_agreement",
    "pair_agreement_by_group",
    "plurality_agreement",
    "position_bias",
    "position_bias_by_annotator",
    "rating_histograms",
    "round_verdict",
    "win_rates",
]
