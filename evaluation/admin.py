from django.contrib import admin
from django.db import models

from annotation.admin import ReadOnlyAdminMixin
from evaluation.models import JudgePrompt, JudgeVerdict, ModelEndpoint, WorkerHeartbeat


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    """Saved through the model's validators, as the page and the API save: the key variable
    must be a declared model key and the base URL http(s)."""

    list_display = ["name", "base_url", "model", "api_key_env", "max_concurrency"]
    search_fields = ["name", "model"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the workers themselves; the recovery of stale jobs reads it."""

    list_display = ["queue", "hostname", "seen_at"]


@admin.register(JudgePrompt)
class JudgePromptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Versions are published by the judge page or the API, which check the template."""

    list_display = ["project", "version", "created_by", "created_at"]
    list_filter = ["project"]


@admin.register(JudgeVerdict)
class JudgeVerdictAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written once by the judge run's last item of a task."""

    list_display = ["task", "run", "endpoint", "judge_prompt", "rating", "choice", "consistent"]
    list_filter = ["project", "endpoint"]
    list_select_related = ["task", "run", "endpoint", "judge_prompt"]
