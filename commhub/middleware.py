"""commhub's own middleware (request metrics are commhub.counters.RequestMetricsMiddleware)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.middleware import common as django_common


class CommonMiddleware(django_common.CommonMiddleware):
    """Django's, except that only GET and HEAD are redirected to the URL with a trailing slash: a POST to an
    unknown path is a 404, not a DEBUG-mode RuntimeError ("Django can't redirect ... POST data")."""

    def should_redirect_with_slash(self, request: Any) -> bool:
        return request.method in ("GET", "HEAD") and super().should_redirect_with_slash(request)


class ApiErrorsAsJson:
    """An API caller gets JSON for every answer: a path that matches no endpoint under /api/ (e.g.
    /api/v1/notifications/not-a-uuid/) is {"detail": ..., "code": "not_found"}, not Django's HTML 404 page
    (which DEBUG makes a technical page). Views' own 404s are DRF's and already JSON."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return JsonResponse({"detail": f"No API endpoint at {request.path}.", "code": "not_found"}, status=404)
        return response
