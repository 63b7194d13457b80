from django.contrib import admin

from annotation.models import (
    ApiToken,
    Batch,
    BatchAssignment,
    Claim,
    Guidelines,
    Judgment,
    Membership,
    Project,
    Prompt,
    Repeat,
    Response,
    Task,
)
from annotation.services import api_token_revoke


class ReadOnlyAdminMixin:
    """Lists and shows rows, and changes none. The services keep counters and rules that a
    row edited or deleted here would skip (a task's judgment count and completeness, the
    guidelines' versions, a batch's slots): a change goes through a page, the API or a
    command, which call them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["pseudonym"]


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "overlap", "lease_minutes", "gold_rate", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Guidelines)
class GuidelinesAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["project", "version", "created_by", "created_at"]
    list_filter = ["project"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "project", "role", "pseudonym"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "pseudonym"]


@admin.register(Prompt)
class PromptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "prompt", "model_name", "created_at"]
    list_filter = ["model_name"]
    raw_id_fields = ["prompt"]


@admin.register(Task)
class TaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "project", "kind", "batch", "is_gold", "extra_slots"]
    list_filter = ["project", "kind", "is_gold"]
    raw_id_fields = ["prompt", "response_a", "response_b", "batch"]


class BatchAssignmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BatchAssignment
    extra = 0
    raw_id_fields = ["annotator"]


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "project",
        "position",
        "overlap",
        "adaptive_max_overlap",
        "status",
        "due_at",
    ]
    list_filter = ["project", "status"]
    inlines = [BatchAssignmentInline]


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "status", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["task", "annotator"]


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "rating", "choice", "late", "created_at"]
    list_filter = ["late", "choice", "rating"]
    raw_id_fields = ["task", "annotator", "claim", "chosen_response", "rejected_response"]


@admin.register(Repeat)
class RepeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "status", "swapped", "choice", "answered_at"]
    list_filter = ["status"]
    raw_id_fields = ["first", "task", "annotator"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    search_fields = ["user__username", "name", "prefix"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are issued through the API, which shows them once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(user=token.user, token_id=token.pk)
