"""REST endpoints of the evaluation figures: ``GET /api/v1/projects/{id}/leaderboard/`` and
``GET /api/v1/projects/{id}/agreement/``, for the project's leads. The serializers below only
describe (and check) the dicts that ``evaluation.leaderboard`` computes, so the schema is the
response."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ProjectKind
from annotation.selectors import project_get_for_lead
from evaluation.leaderboard import (
    WINDOW_DAYS,
    WINDOW_DAYS_RANGE,
    agreement_figures,
    batch_ids_parse,
    leaderboard_figures,
)
from ftapp.api_serializers import StrictSerializer

BATCH_PARAMETER = OpenApiParameter(
    "batch",
    OpenApiTypes.INT,
    many=True,
    explode=True,
    description="Only these batches of the project: repeat it (`?batch=1&batch=2`) or give a "
    "comma-separated list (`?batch=1,2`). Default: every batch.",
)


class FiguresQuerySerializer(StrictSerializer):
    """The query string; ``batch`` is read by ``batch_ids_parse``, which knows the project."""

    batch = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)


class AgreementQuerySerializer(FiguresQuerySerializer):
    window_days = serializers.FloatField(
        min_value=WINDOW_DAYS_RANGE[0],
        max_value=WINDOW_DAYS_RANGE[1],
        default=WINDOW_DAYS,
        help_text="Width of the time windows of drift and agreement over time, in days.",
    )


def _query(request, serializer_class: type[StrictSerializer], project) -> dict:
    # Every value of a repeated parameter for ``batch``, the last one for the others.
    raw = {
        name: values if name == "batch" else values[-1]
        for name, values in request.query_params.lists()
    }
    query = serializer_class(data=raw)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    data["batch_ids"] = batch_ids_parse(project=project, values=data.pop("batch", []))
    return data


def _float(**kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


class BootstrapSerializer(serializers.Serializer):
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    level = serializers.FloatField(help_text="Coverage of the intervals: 0.95.")


class RatedModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    mean = _float(help_text="Mean of its tasks' settled scores (adjudicated, else the mean).")
    lower = _float(help_text="95% bootstrap interval, resampling prompts.")
    upper = _float()
    tasks = serializers.IntegerField(help_text="Its rated responses (the n of the mean).")
    judgments = serializers.IntegerField()
    rank = serializers.IntegerField(help_text="1 + the models whose interval is wholly above.")
    tied_with = serializers.ListField(
        child=serializers.CharField(), help_text="Models whose interval overlaps this one's."
    )


class RatingBoardSerializer(serializers.Serializer):
    models = RatedModelSerializer(many=True, help_text="Best first; empty in pairwise projects.")
    tasks = serializers.IntegerField()
    adjudicated = serializers.IntegerField()
    judgments = serializers.IntegerField()


class PairedModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    rating = _float(help_text="Bradley–Terry strength on an Elo scale: mean 1000, +400 = 10:1.")
    lower = _float(help_text="95% bootstrap interval over battles.")
    upper = _float()
    battles = serializers.IntegerField()
    wins = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="Ties and both-bad verdicts (half a win each).")
    losses = serializers.IntegerField()
    rank = serializers.IntegerField(help_text="1 + the models whose interval is wholly above.")
    tied_with = serializers.ListField(
        child=serializers.CharField(), help_text="Models whose interval overlaps this one's."
    )


class WinRatesSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField(), help_text="Rows and columns.")
    rate = serializers.ListField(
        child=serializers.ListField(child=_float()),
        help_text="rate[i][j]: share of i's games against j that i won, ties as half; null "
        "where they never met.",
    )
    games = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    ties = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class PairwiseBoardSerializer(serializers.Serializer):
    models = PairedModelSerializer(many=True, help_text="Best first; empty in rating projects.")
    battles = serializers.IntegerField(
        help_text="Judgments of tasks not adjudicated, plus one per adjudicated task."
    )
    judgments = serializers.IntegerField()
    adjudicated = serializers.IntegerField()
    connected = serializers.BooleanField(
        help_text="false when some models are not linked to the others by any games."
    )
    win_rates = WinRatesSerializer()


class LeaderboardSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    kind = serializers.ChoiceField(ProjectKind.choices)
    batches = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="null: every batch."
    )
    bootstrap = BootstrapSerializer()
    ratings = RatingBoardSerializer()
    pairwise = PairwiseBoardSerializer()


class BinomialSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        help_text="Left choices (position bias) or wins of the longer response (length bias)."
    )
    n = serializers.IntegerField()
    share = _float(help_text="count / n; null when n is 0.")
    p_value = _float(help_text="Exact two-sided binomial test against one half.")
    lower = _float(help_text="Clopper–Pearson 95% interval.")
    upper = _float()


class GoldSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    correct = serializers.IntegerField()
    accuracy = _float()
    lower = _float(help_text="Wilson 95% interval.")
    upper = _float()


class SelfConsistencySerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Repeats answered.")
    same = serializers.IntegerField(
        help_text="Repeats given the same verdict as the first time, in the task's terms."
    )
    share = _float()
    lower = _float(help_text="Wilson 95% interval.")
    upper = _float()


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    agreement = _float(help_text="Share of judgments matching the others' plurality.")
    judgments = serializers.IntegerField()


class DriftSerializer(serializers.Serializer):
    slope_per_day = _float(
        help_text="Least-squares trend of the agreement; null until the judgments span two windows."
    )
    p_value = _float(help_text="t-test of a zero slope.")
    windows = WindowSerializer(many=True)


class OverTimeSerializer(DriftSerializer):
    window_days = serializers.FloatField()


class AnnotatorSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="The project pseudonym.")
    judgments = serializers.IntegerField(help_text="Judgments of non-gold tasks.")
    agreement = _float(
        help_text="Against the others on the same tasks, left one out: the share matching "
        "their plurality (choices) or the correlation with their mean (ratings)."
    )
    agreement_judgments = serializers.IntegerField(help_text="Judgments with others beside.")
    mean_abs_diff = _float(help_text="Ratings: mean distance to the others' mean.")
    gold = GoldSerializer(allow_null=True, help_text="null without gold judgments.")
    self_consistency = SelfConsistencySerializer(
        allow_null=True,
        help_text="Pairwise, with the project's repeat share: how often a pair shown again "
        "later with the sides swapped got the same verdict. null without answered repeats.",
    )
    reliability = _float(help_text="Dawid–Skene: estimated chance of giving the true label.")
    position_bias = BinomialSerializer(allow_null=True, help_text="Pairwise: left choices.")
    rating_histogram = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="Ratings: how often they gave 1, 2, 3, 4 and 5.",
    )
    drift = DriftSerializer(allow_null=True)


RAW_AGREEMENT_HELP = (
    "Raw agreement: the share of pairs of judgments of the same task that agree exactly (the "
    "same choice, or the very same rating); unlike alpha, not corrected for chance. null "
    "without pairs."
)


class AlphaGroupSerializer(serializers.Serializer):
    alpha = _float(help_text="null where undefined (nothing to pair, or no variation).")
    raw_agreement = _float(help_text=RAW_AGREEMENT_HELP)
    pairs = serializers.IntegerField(help_text="Pairs of judgments of the same task.")
    judgments = serializers.IntegerField()


class BatchAlphaSerializer(AlphaGroupSerializer):
    batch = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_blank=True)


class VersionAlphaSerializer(AlphaGroupSerializer):
    version = serializers.IntegerField(allow_null=True, help_text="Guideline version.")


class AlphaSerializer(serializers.Serializer):
    overall = _float()
    raw_agreement = _float(help_text=RAW_AGREEMENT_HELP)
    pairs = serializers.IntegerField(help_text="Pairs of judgments of the same task.")
    by_batch = BatchAlphaSerializer(many=True)
    by_version = VersionAlphaSerializer(many=True)


class DawidSkeneSerializer(serializers.Serializer):
    iterations = serializers.IntegerField()
    converged = serializers.BooleanField()


class AgreementSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    kind = serializers.ChoiceField(ProjectKind.choices)
    level = serializers.ChoiceField(
        ["ordinal", "nominal"], help_text="Of Krippendorff's alpha: ordinal for ratings."
    )
    batches = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="null: every batch."
    )
    judgments = serializers.IntegerField()
    tasks = serializers.IntegerField()
    alpha = AlphaSerializer()
    annotators = AnnotatorSerializer(many=True)
    over_time = OverTimeSerializer()
    position_bias = BinomialSerializer(allow_null=True, help_text="Pairwise: left choices.")
    length_bias = BinomialSerializer(
        allow_null=True, help_text="Pairwise: decisive verdicts won by the longer response."
    )
    rating_histogram = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="Ratings: 1 to 5."
    )
    dawid_skene = DawidSkeneSerializer(allow_null=True)


class LeaderboardView(APIView):
    @extend_schema(
        parameters=[BATCH_PARAMETER],
        responses=LeaderboardSerializer,
        summary="Model leaderboard: mean ratings or Bradley–Terry ratings with 95% intervals, "
        "win rates",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        query = _query(request, FiguresQuerySerializer, project)
        return Response(LeaderboardSerializer(leaderboard_figures(project=project, **query)).data)


class AgreementView(APIView):
    @extend_schema(
        parameters=[
            BATCH_PARAMETER,
            OpenApiParameter(
                "window_days",
                OpenApiTypes.DOUBLE,
                default=WINDOW_DAYS,
                description="Width of the drift windows, in days ({:g} to {:g}).".format(
                    *WINDOW_DAYS_RANGE
                ),
            ),
        ],
        responses=AgreementSerializer,
        summary="Annotator agreement, gold accuracy, reliability, drift and bias figures",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        query = _query(request, AgreementQuerySerializer, project)
        return Response(AgreementSerializer(agreement_figures(project=project, **query)).data)


urlpatterns = [
    path(
        "projects/<int:project_id>/leaderboard/",
        LeaderboardView.as_view(),
        name="api-project-leaderboard",
    ),
    path(
        "projects/<int:project_id>/agreement/",
        AgreementView.as_view(),
        name="api-project-agreement",
    ),
]
