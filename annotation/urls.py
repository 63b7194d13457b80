from django.urls import path

from annotation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/queue/", views.queue, name="queue"),
]
