from django.urls import path

from annotation.api import (
    batches,
    browse,
    imports,
    judgments,
    my_work,
    preferences,
    queue,
    tasks,
    views,
)

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/preferences/", preferences.PreferencesView.as_view(), name="api-preferences"),
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<int:project_id>/members/", views.MemberView.as_view(), name="api-project-members"
    ),
    path(
        "projects/<int:project_id>/members/<str:username>/",
        views.MemberDetailView.as_view(),
        name="api-project-member",
    ),
    path(
        "projects/<int:project_id>/batches/",
        batches.BatchListView.as_view(),
        name="api-project-batches",
    ),
    path(
        "projects/<int:project_id>/import/", imports.ImportView.as_view(), name="api-project-import"
    ),
    path(
        "projects/<int:project_id>/queue/next/",
        queue.QueueNextView.as_view(),
        name="api-queue-next",
    ),
    path(
        "projects/<int:project_id>/guidelines/read/",
        queue.GuidelinesReadView.as_view(),
        name="api-guidelines-read",
    ),
    path(
        "projects/<int:project_id>/queue/undo/",
        queue.QueueUndoView.as_view(),
        name="api-queue-undo",
    ),
    path(
        "projects/<int:project_id>/judgments/",
        judgments.JudgmentListView.as_view(),
        name="api-project-judgments",
    ),
    path(
        "projects/<int:project_id>/my-judgments/",
        my_work.MyJudgmentListView.as_view(),
        name="api-my-judgments",
    ),
    path("judgments/<int:judgment_id>/", my_work.MyJudgmentView.as_view(), name="api-judgment"),
    path(
        "projects/<int:project_id>/tasks/",
        browse.TaskListView.as_view(),
        name="api-project-tasks",
    ),
    path(
        "projects/<int:project_id>/tasks/bulk/",
        tasks.TaskBulkView.as_view(),
        name="api-project-tasks-bulk",
    ),
    path("tasks/<int:task_id>/", tasks.TaskDetailView.as_view(), name="api-task"),
    path("tasks/<int:task_id>/judgments/", queue.JudgmentCreateView.as_view(), name="api-judge"),
    path("tasks/<int:task_id>/skip/", queue.SkipView.as_view(), name="api-skip"),
]
