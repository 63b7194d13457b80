from django.urls import path

from annotation.api import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<int:project_id>/members/", views.MemberView.as_view(), name="api-project-members"
    ),
]
