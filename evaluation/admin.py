from django.contrib import admin

from evaluation.models import ModelEndpoint, WorkerHeartbeat


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "model", "api_key_env", "max_concurrency"]
    search_fields = ["name", "model"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["queue", "hostname", "seen_at"]
