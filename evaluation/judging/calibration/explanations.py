"""What each calibration figure means, in plain words: served with the figures (the API's
``explanations``) and shown beside them on the judge page, so both say the same."""

from annotation.models import ProjectKind

COMMON = {
    "majority": (
        "How often the judge gives the same label as the human majority of a task (a lead's "
        "adjudication, where there is one), on the tasks both labeled. Raw share is the plain "
        "proportion; kappa and alpha discount the agreement chance alone would give: 1 is "
        "perfect, 0 no better than chance. Each comes with a 95% interval from resampling "
        "tasks: the judge's true agreement lies in it with 95% confidence."
    ),
    "annotators": (
        "The judge against each annotator, on the tasks they both labeled: how far the judge "
        "matches each expert in turn."
    ),
    "confusion": (
        "Rows are the judge's label, columns the human majority's; the diagonal is agreement. "
        "A task whose humans tied counts half to each tied label."
    ),
    "ceiling": (
        "The ceiling: each expert against the majority of the other experts on the same task "
        "(leaving the expert out), and the judge put in the very same seats against the very "
        "same majorities. The difference is judge minus experts: an interval that holds 0 "
        "says the judge agrees with the experts about as well as they agree with each other; "
        "wholly below 0, the judge is worse than a typical expert."
    ),
    "groups": (
        "The judge's agreement with the human majority per value of a metadata key of the "
        "prompts (topic, language), beside the experts' own ceiling there: where the judge "
        "can be trusted and where not. Small groups have wide intervals."
    ),
}

KAPPA = {
    ProjectKind.RATING: (
        "Kappa is Cohen's kappa, quadratic-weighted: a rating one point off counts as a near "
        "miss, four points off as a full miss. Alpha is Krippendorff's alpha, ordinal."
    ),
    ProjectKind.PAIRWISE: (
        "Kappa is Cohen's kappa (unweighted: every different choice is a miss). Alpha is "
        "Krippendorff's alpha, nominal."
    ),
}

PAIRWISE = {
    "position_consistency": (
        "Each pair is asked twice, once with each response shown first. Consistency is the "
        "share of pairs, of all the judge's verdicts, where both answers name the same "
        "winner. A verdict that changes with the order is stored as inconsistent and counts "
        "as a tie. Flagged when the interval lies wholly below {floor:.0%}."
    ),
    "position_bias": (
        "Of the judge's answers that named a side (all its verdicts), the share naming the one "
        "shown first. An unswayed judge picks first half the time, since each pair is asked "
        "in both orders. "
        "Flagged when the exact binomial test against one half gives p below {p:g}. The "
        "humans' share on the same pairs (their sides shuffled) is beside it."
    ),
    "length_bias": (
        "Of decisive verdicts between responses of different lengths, the share where the "
        "longer one won: the judge's, and the humans' on the same pairs. The difference is "
        "judge minus humans: flagged when its interval lies wholly above 0 (the judge prefers "
        "longer answers more than the humans do) or wholly below (shorter)."
    ),
    "leaderboard": (
        "The models ranked by the judge's verdicts and by the humans' judgments on the same "
        "tasks, each a Bradley–Terry rating (mean 1000; 400 points is 10 to 1 odds). The rank "
        "correlation (Spearman's rho, Kendall's tau; 1 is the same order, -1 reversed) says "
        "whether the judge would rank the models as the humans do."
    ),
}

RATING = {
    "leaderboard": (
        "The models ranked by the judge's mean rating and by the humans' (each task's "
        "adjudicated rating, else the mean of its judgments) on the same tasks. The rank "
        "correlation (Spearman's rho, Kendall's tau; 1 is the same order, -1 reversed) says "
        "whether the judge would rank the models as the humans do."
    ),
}


def calibration_explanations(*, kind: str, consistency_floor: float, p_value: float) -> dict:
    """Every figure's explanation for a project of ``kind``, keyed like the figures."""
    texts = {**COMMON, "kappa": KAPPA[ProjectKind(kind)]}
    if kind == ProjectKind.PAIRWISE:
        texts |= {
            key: text.format(floor=consistency_floor, p=p_value) for key, text in PAIRWISE.items()
        }
    else:
        texts |= RATING
    return texts
