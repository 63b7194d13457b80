from django.contrib.auth import authenticate
from rest_framework import serializers

from annotation.models import REPEAT_SHARE_MAX, ConflictRule, Pairing, Project, ProjectKind, Role
from ftapp.api_serializers import StrictSerializer


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, max_length=100, default="api")

    def validate(self, attrs):
        user = authenticate(
            request=self.context.get("request"),
            username=attrs["username"],
            password=attrs["password"],
        )
        if user is None:
            raise serializers.ValidationError("Wrong username or password.")
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    name = serializers.CharField()


class ProgressSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    tasks = serializers.IntegerField()
    tasks_in_batches = serializers.IntegerField()
    gold_tasks = serializers.IntegerField()
    judgments = serializers.IntegerField()


# What a project's payload tells only its leads: the model setup.
# Annotators never learn which models wrote what they judge, nor that some pairs come back.
LEAD_ONLY_FIELDS = ("pairing", "baseline_model", "repeat_share")


class ProjectSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=ProjectKind.choices)
    guidelines = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Markdown."
    )
    rating_anchors = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=500),
        required=False,
        help_text='What each rating means, keyed "1" to "5". With `guidelines`, or alone, a '
        "change publishes a new guidelines version; the same text and anchors publish none.",
    )
    guidelines_version = serializers.IntegerField(read_only=True)
    overlap = serializers.IntegerField(min_value=1, max_value=50, default=1)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, default=15)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    repeat_share = serializers.FloatField(
        min_value=0.0,
        max_value=REPEAT_SHARE_MAX,
        default=0.0,
        help_text="Pairwise: the share of each annotator's judged pairs shown to them again "
        "later with the sides swapped, to measure their self-consistency (0 to 0.2). "
        "Shown to leads only.",
    )
    pairing = serializers.ChoiceField(
        choices=Pairing.choices, default=Pairing.ALL_PAIRS, help_text="Shown to leads only."
    )
    baseline_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A model name: shown to leads only.",
    )
    rubric = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=20
    )
    conflict_rule = serializers.ChoiceField(
        choices=ConflictRule.choices,
        default=ConflictRule.NO_MAJORITY,
        help_text="Which disagreements are listed as conflicts: `no_majority` (no verdict has "
        "more than half the votes) or `not_unanimous`. Ratings within one point agree.",
    )
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    archived_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When a lead archived the project, if one did."
    )
    progress = ProgressSerializer(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("role") != Role.LEAD:
            for name in LEAD_ONLY_FIELDS:
                data.pop(name, None)
        return data

    def validate(self, attrs):
        pairing = attrs.get("pairing", getattr(self.instance, "pairing", Pairing.ALL_PAIRS))
        baseline = attrs.get("baseline_model", getattr(self.instance, "baseline_model", ""))
        if pairing == Pairing.BASELINE and not baseline:
            raise serializers.ValidationError(
                {"baseline_model": ["Name the baseline model when pairing is 'baseline'."]}
            )
        return attrs


class ProjectUpdateSerializer(ProjectSerializer):
    kind = serializers.ChoiceField(choices=ProjectKind.choices, read_only=True)
    archived = serializers.BooleanField(
        required=False,
        write_only=True,
        help_text="True archives the project (it leaves home pages, queues and the project "
        "list, its data and exports stay); false brings it back.",
    )
    guidelines_change_note = serializers.CharField(
        required=False,
        write_only=True,
        allow_blank=True,
        max_length=2000,
        help_text="What changed, with new `guidelines` or `rating_anchors`: annotators see it "
        "before their next task.",
    )

    class Meta:
        ref_name = "ProjectUpdate"


class MemberRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    pseudonym = serializers.CharField()


def project_representation(project: Project, *, role: str, progress: dict, guidelines) -> dict:
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "kind": project.kind,
        "guidelines": guidelines.body if guidelines else "",
        "rating_anchors": guidelines.rating_anchors if guidelines else {},
        "guidelines_version": guidelines.version if guidelines else None,
        "overlap": project.overlap,
        "lease_minutes": project.lease_minutes,
        "gold_rate": project.gold_rate,
        "repeat_share": project.repeat_share,
        "pairing": project.pairing,
        "baseline_model": project.baseline_model,
        "rubric": project.rubric,
        "conflict_rule": project.conflict_rule,
        "role": role,
        "archived_at": project.archived_at,
        "progress": progress,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }
