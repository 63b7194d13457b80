from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ftapp.api_errors import api_not_found
from ftapp.health import healthz

handler500 = "ftapp.api_errors.server_error"

urlpatterns = [
    path("", include("annotation.urls")),
    path("", include("evaluation.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz/", healthz, name="healthz"),
    path("api/v1/", include("annotation.api.urls")),
    path("api/v1/", include("evaluation.generation.api")),
    path("api/v1/", include("evaluation.exports.api")),
    path("api/v1/", include("evaluation.leaderboard.api")),
    path("api/v1/", include("evaluation.rounds.api")),
    path("api/v1/", include("evaluation.judging.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its start-up script from a URL, as the Content-Security-Policy
    # allows no inline script; Swagger UI's stylesheet draws its icons from data: URLs.
    path(
        "api/docs/",
        csp_update({"img-src": "data:"})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    # Last, for what no route above matched (any characters, newlines too). It wants the
    # final slash, so that a path without one still gets APPEND_SLASH's redirect.
    re_path(r"^api/(?:[\s\S]*/)?$", api_not_found),
]
