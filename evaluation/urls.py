from django.urls import path

from evaluation import views

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/<int:endpoint_id>/test/", views.model_test, name="model-test"),
    path("projects/<int:project_id>/generate/", views.run_new, name="run-new"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
]
