"""``GET /api/v1/projects/{id}/judge/calibration/``: how far to trust each judge, for the
project's leads (and their tokens). The serializers only describe (and check) the dict that
``judge_calibration`` computes, so the schema is the response."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ProjectKind
from annotation.selectors import project_get_for_lead
from evaluation.judging.calibration.loading import GROUP_BY_MAX
from evaluation.judging.calibration.selectors import judge_calibration
from ftapp.api_serializers import StrictSerializer, id_field


class CalibrationQuerySerializer(StrictSerializer):
    judge = id_field(
        required=False, source="endpoint_id", help_text="Only this judge (a model endpoint id)."
    )
    prompt_version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="Only this judge prompt version.",
    )
    group_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=GROUP_BY_MAX,
        help_text="A metadata key of the prompts (topic, language): figures per value.",
    )


def _float(**kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


class CalibrationIntervalSerializer(serializers.Serializer):
    value = _float(help_text="null where undefined (nothing compared, or no variation).")
    lower = _float(help_text="95% bootstrap interval, resampling tasks.")
    upper = _float()


class CalibrationAgreementSerializer(serializers.Serializer):
    pairs = _float(help_text="Labels compared (a tied human majority counts half to each).")
    tasks = serializers.IntegerField()
    share = CalibrationIntervalSerializer(help_text="Raw agreement: the share of identical labels.")
    kappa = CalibrationIntervalSerializer(
        help_text="Cohen's kappa: unweighted for choices, quadratic-weighted for ratings."
    )
    alpha = CalibrationIntervalSerializer(
        help_text="Krippendorff's alpha: nominal for choices, ordinal for ratings."
    )


class CalibrationAnnotatorAgreementSerializer(CalibrationAgreementSerializer):
    annotator = serializers.CharField(help_text="The project pseudonym.")


class CalibrationConfusionSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.JSONField(), help_text="Rows and columns.")
    rows = serializers.ListField(
        child=serializers.ListField(child=_float()),
        help_text="rows[j][h]: tasks the judge labeled j whose human majority is h.",
    )


class CalibrationDifferenceSerializer(serializers.Serializer):
    share = CalibrationIntervalSerializer()
    kappa = CalibrationIntervalSerializer()
    alpha = CalibrationIntervalSerializer()


class CalibrationExpertSeatSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="The project pseudonym.")
    expert = CalibrationAgreementSerializer(help_text="This expert against the others' majority.")
    judge = CalibrationAgreementSerializer(help_text="The judge against the same majorities.")


class CalibrationCeilingSerializer(serializers.Serializer):
    experts = CalibrationAgreementSerializer(
        help_text="Each expert against the majority of the other experts (leave-one-out)."
    )
    judge = CalibrationAgreementSerializer(help_text="The judge in the same seats.")
    difference = CalibrationDifferenceSerializer(help_text="Judge minus experts, paired bootstrap.")
    by_expert = CalibrationExpertSeatSerializer(many=True)


class CalibrationBinomialSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    n = serializers.IntegerField()
    share = _float(help_text="count / n; null when n is 0.")
    p_value = _float(help_text="Exact two-sided binomial test against one half.")
    lower = _float(help_text="Clopper–Pearson 95% interval.")
    upper = _float()


class CalibrationFlaggedBinomialSerializer(CalibrationBinomialSerializer):
    flagged = serializers.BooleanField()


class CalibrationConsistencySerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Pairs whose verdict survives the swap.")
    n = serializers.IntegerField(help_text="Pairs asked in both orders.")
    share = _float()
    lower = _float(help_text="Wilson 95% interval.")
    upper = _float()
    flagged = serializers.BooleanField()


class CalibrationPositionSerializer(serializers.Serializer):
    consistency = CalibrationConsistencySerializer()
    bias = CalibrationFlaggedBinomialSerializer(
        help_text="The judge's answers naming the first-shown side."
    )
    humans = CalibrationBinomialSerializer(help_text="The humans' left choices on the same pairs.")


class CalibrationLengthSerializer(serializers.Serializer):
    judge = CalibrationBinomialSerializer(
        help_text="The judge's decisive verdicts won by the longer."
    )
    humans = CalibrationBinomialSerializer(help_text="The humans' on the same pairs.")
    difference = CalibrationIntervalSerializer(help_text="Judge's share minus the humans'.")
    flagged = serializers.BooleanField()


class CalibrationGroupSerializer(serializers.Serializer):
    value = serializers.CharField(allow_null=True, help_text="null: prompts without the key.")
    tasks = serializers.IntegerField()
    majority = CalibrationAgreementSerializer()
    experts = CalibrationIntervalSerializer(
        help_text="The experts' ceiling (raw share) in the group."
    )
    judge_in_seat = CalibrationIntervalSerializer(help_text="The judge in the same seats.")


class CalibrationEstimateSerializer(serializers.Serializer):
    value = _float(help_text="Bradley–Terry rating (Elo scale) or mean rating.")
    lower = _float(help_text="95% bootstrap interval.")
    upper = _float()
    n = serializers.IntegerField(help_text="Battles, or rated tasks.")
    rank = serializers.IntegerField(help_text="1 + the models whose interval is wholly above.")


class CalibrationBoardRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    judge = CalibrationEstimateSerializer()
    human = CalibrationEstimateSerializer(allow_null=True)


class CalibrationRankCorrelationSerializer(serializers.Serializer):
    models = serializers.IntegerField(help_text="Models on both boards.")
    spearman = _float()
    spearman_p = _float()
    kendall = _float(help_text="Kendall's tau-b.")
    kendall_p = _float()


class CalibrationLeaderboardSerializer(serializers.Serializer):
    measure = serializers.ChoiceField(["bradley_terry", "mean_rating"])
    models = CalibrationBoardRowSerializer(many=True, help_text="By the judge's board, best first.")
    rank_correlation = CalibrationRankCorrelationSerializer()


class CalibrationJudgeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CalibrationJudgeSerializer(serializers.Serializer):
    judge = CalibrationJudgeRefSerializer()
    prompt_version = serializers.IntegerField()
    verdicts = serializers.IntegerField(help_text="Its newest verdicts on non-gold tasks.")
    tasks = serializers.IntegerField(help_text="Of them, tasks the humans labeled too.")
    majority = CalibrationAgreementSerializer()
    confusion = CalibrationConfusionSerializer()
    annotators = CalibrationAnnotatorAgreementSerializer(many=True)
    ceiling = CalibrationCeilingSerializer()
    position = CalibrationPositionSerializer(allow_null=True, help_text="Pairwise projects only.")
    length = CalibrationLengthSerializer(allow_null=True, help_text="Pairwise projects only.")
    groups = CalibrationGroupSerializer(
        many=True, help_text="With group_by: the largest 50 groups."
    )
    leaderboard = CalibrationLeaderboardSerializer()
    flags = serializers.ListField(
        child=serializers.ChoiceField(["position_consistency", "position_bias", "length_bias"])
    )


class CalibrationBootstrapSerializer(serializers.Serializer):
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    level = serializers.FloatField()


class CalibrationSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    judge = serializers.IntegerField(allow_null=True, help_text="The judge asked for, if any.")
    prompt_version = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(ProjectKind.choices)
    level = serializers.ChoiceField(["ordinal", "nominal"])
    kappa_weights = serializers.ChoiceField(["unweighted", "quadratic"])
    group_by = serializers.CharField(allow_null=True)
    bootstrap = CalibrationBootstrapSerializer()
    explanations = serializers.DictField(
        child=serializers.CharField(), help_text="Each figure in plain words, by its key."
    )
    judges = CalibrationJudgeSerializer(many=True)


class CalibrationView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("judge", OpenApiTypes.INT, description="A model endpoint id."),
            OpenApiParameter("prompt_version", OpenApiTypes.INT),
            OpenApiParameter(
                "group_by", OpenApiTypes.STR, description="A metadata key of the prompts."
            ),
        ],
        responses=CalibrationSerializer,
        summary="How far to trust the judge: agreement with the experts with intervals, the "
        "expert ceiling, position and length bias, per metadata group",
    )
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        query = CalibrationQuerySerializer(
            data={name: values[-1] for name, values in request.query_params.lists()}
        )
        query.is_valid(raise_exception=True)
        figures = judge_calibration(project=project, **query.validated_data)
        return Response(CalibrationSerializer(figures).data)


urlpatterns = [
    path(
        "projects/<int:project_id>/judge/calibration/",
        CalibrationView.as_view(),
        name="api-judge-calibration",
    ),
]
