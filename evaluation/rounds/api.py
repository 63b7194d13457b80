"""REST endpoints of rounds: start the next round, read its verdict."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import project_get_for_lead
from evaluation.models import Round
from evaluation.rounds.selectors import round_get_for_lead, round_list, rounds_figures
from evaluation.rounds.services import round_start
from ftapp.api_serializers import StrictSerializer, id_field, request_body


class RoundRequestSerializer(StrictSerializer):
    model = id_field(source="model_id", help_text="The fine-tuned model's endpoint id.")
    export = id_field(source="export_id", help_text="The export it was trained on.")
    previous_model = serializers.CharField(
        max_length=200, help_text="The model name it is compared with."
    )
    name = serializers.CharField(max_length=200, required=False, default="")
    annotators = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    overlap = serializers.IntegerField(min_value=1, max_value=50, required=False)
    fresh_batch = id_field(
        required=False, source="fresh_batch_id", help_text="Also compare on this batch's prompts."
    )


class RoundResultSerializer(serializers.Serializer):
    new_model = serializers.CharField()
    previous_model = serializers.CharField()
    prompts = serializers.IntegerField()
    games = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)
    wins = serializers.IntegerField()
    ties = serializers.IntegerField()
    losses = serializers.IntegerField()
    verdict = serializers.ChoiceField(
        ["better", "no detectable difference", "worse", "not judged yet"]
    )


class RoundSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.IntegerField(source="project_id")
    number = serializers.IntegerField()
    name = serializers.CharField()
    model = serializers.CharField(source="model.name")
    model_id = serializers.IntegerField()
    previous_model = serializers.CharField()
    export = serializers.IntegerField(source="export_id")
    generation_run = serializers.IntegerField(source="generation_run_id", allow_null=True)
    batch = serializers.IntegerField(source="batch_id", allow_null=True)
    generation = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_generation(self, rnd) -> dict | None:
        return self.context["figures"][rnd.pk]["generation"]

    @extend_schema(responses=RoundResultSerializer)
    def get_result(self, rnd) -> dict:
        return RoundResultSerializer(self.context["figures"][rnd.pk]["result"]).data


def _rounds_data(rounds: list[Round]) -> list[dict]:
    """The rounds as the API shows them, their figures read once for all of them."""
    figures = rounds_figures(rounds=rounds)
    serializer = RoundSerializer(rounds, many=True, context={"figures": figures})
    # The stubs give the data of a serializer made with many=True the type of one item's.
    return serializer.data  # type: ignore[return-value]


class RoundListView(APIView):
    @extend_schema(responses=RoundSerializer(many=True), summary="A project's rounds")
    def get(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        return Response(_rounds_data(list(round_list(project=project))))

    @extend_schema(
        request=RoundRequestSerializer,
        responses={201: RoundSerializer},
        summary="Start the next round: the fine-tuned model against the previous one",
    )
    def post(self, request, project_id: int):
        data = request_body(request, RoundRequestSerializer)
        rnd = round_start(by=request.user, project_id=project_id, **data)
        rnd = round_get_for_lead(user=request.user, round_id=rnd.pk)
        return Response(_rounds_data([rnd])[0], status=status.HTTP_201_CREATED)


class RoundDetailView(APIView):
    @extend_schema(responses=RoundSerializer, summary="A round, its generation and its verdict")
    def get(self, request, round_id: int):
        rnd = round_get_for_lead(user=request.user, round_id=round_id)
        return Response(_rounds_data([rnd])[0])


urlpatterns = [
    path("projects/<int:project_id>/rounds/", RoundListView.as_view(), name="api-project-rounds"),
    path("rounds/<int:round_id>/", RoundDetailView.as_view(), name="api-round"),
]
