"""The site's 404 page with DEBUG on too (the demo), where Django would answer with its
technical page instead: a list of every URL pattern, no navigation and no way back."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults


class NotFoundPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/api/")
        ):
            return defaults.page_not_found(request, Http404())
        return response
