from django.urls import path

from evaluation.exports import views as export_views
from evaluation.generation import views
from evaluation.judging import views as judge_views
from evaluation.leaderboard.views import agreement, leaderboard
from evaluation.rounds import views as round_views

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/<int:endpoint_id>/test/", views.model_test, name="model-test"),
    path("models/<int:endpoint_id>/", views.model_edit, name="model-edit"),
    path("models/<int:endpoint_id>/retire/", views.model_retire, name="model-retire"),
    path("projects/<int:project_id>/generate/", views.run_new, name="run-new"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("projects/<int:project_id>/judge/", judge_views.judge_home, name="judge"),
    path("projects/<int:project_id>/judge/runs/", judge_views.judge_runs, name="judge-runs"),
    path("judge-runs/<int:run_id>/", judge_views.judge_run_detail, name="judge-run"),
    path("projects/<int:project_id>/exports/", export_views.export_new, name="export-new"),
    path("exports/<int:export_id>/", export_views.export_detail, name="export"),
    path("projects/<int:project_id>/leaderboard/", leaderboard, name="leaderboard"),
    path("projects/<int:project_id>/agreement/", agreement, name="agreement"),
    path("projects/<int:project_id>/rounds/", round_views.round_new, name="round-new"),
    path("rounds/<int:round_id>/", round_views.round_detail, name="round"),
]
