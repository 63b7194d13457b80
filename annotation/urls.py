from django.urls import path

from annotation.views import annotator, lead, my_work, tokens

urlpatterns = [
    path("", annotator.home, name="home"),
    path("projects/<int:project_id>/queue/", annotator.queue, name="queue"),
    path("projects/<int:project_id>/queue/undo/", annotator.queue_undo, name="queue-undo"),
    path("projects/<int:project_id>/my-work/", my_work.my_work, name="my-work"),
    path("my-work/<int:judgment_id>/", my_work.my_judgment, name="my-judgment"),
    path(
        "projects/<int:project_id>/guidelines/read/",
        annotator.guidelines_acknowledge_view,
        name="guidelines-acknowledge",
    ),
    path("tasks/<int:task_id>/judge/", annotator.task_judge, name="task-judge"),
    path("tasks/<int:task_id>/skip/", annotator.task_skip_view, name="task-skip"),
    path("projects/new/", lead.project_new, name="project-new"),
    path("projects/<int:project_id>/", lead.dashboard, name="project"),
    path("projects/<int:project_id>/settings/", lead.project_settings, name="project-settings"),
    path("projects/<int:project_id>/import/", lead.import_prompts, name="project-import"),
    path("projects/<int:project_id>/batches/new/", lead.batch_new, name="batch-new"),
    path("batches/<int:batch_id>/", lead.batch_detail, name="batch"),
    path("projects/<int:project_id>/members/", lead.members, name="members"),
    path(
        "projects/<int:project_id>/members/<str:username>/role/",
        lead.member_role,
        name="member-role",
    ),
    path(
        "projects/<int:project_id>/members/<str:username>/remove/",
        lead.member_remove,
        name="member-remove",
    ),
    path(
        "projects/<int:project_id>/members/<str:username>/exclusion/",
        lead.member_exclusion,
        name="member-exclusion",
    ),
    path("projects/<int:project_id>/data/", lead.data, name="data"),
    path("projects/<int:project_id>/data/bulk/", lead.data_bulk, name="data-bulk"),
    path("projects/<int:project_id>/conflicts/", lead.conflict_list, name="conflicts"),
    path("tasks/<int:task_id>/review/", lead.task_review, name="task-review"),
    path("projects/<int:project_id>/guidelines/", lead.guidelines_edit, name="guidelines"),
    path("preferences/shortcuts/", annotator.preference_shortcuts, name="preference-shortcuts"),
    path("tokens/", tokens.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
]
