from django.urls import path

from annotation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/queue/", views.queue, name="queue"),
    path("projects/<int:project_id>/queue/undo/", views.queue_undo, name="queue-undo"),
    path("tasks/<int:task_id>/judge/", views.task_judge, name="task-judge"),
    path("tasks/<int:task_id>/skip/", views.task_skip_view, name="task-skip"),
]
