"""commhub's own middleware (request metrics are commhub.counters.RequestMetricsMiddleware)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware import common as django_common

from commhub.text import unstorable


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


class RefuseUnstorableText:
    """A path or query parameter holding text no column can store is a 400 at the edge, before any view reads
    it: ids, filters and lookups then never reach the database with it (a 500 before this)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        where = self._problem(request)
        if where is None:
            return self.get_response(request)
        detail = f"The {where} contains a NUL character or invalid Unicode text."
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail, "code": "invalid_text"}, status=400)
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")

    @staticmethod
    def _problem(request: Any) -> str | None:
        # Bytes that are not UTF-8 (a surrogate's, say) reach the view re-percent-encoded by Django ("%ED%A0%80"):
        # an id that is not text, refused rather than stored in that disguise.
        try:
            unquote_to_bytes(request.path).decode("utf-8")
        except UnicodeError:
            return "path"
        if unstorable(request.path):
            return "path"
        for key, values in request.GET.lists():
            if unstorable(key):
                return "query string"
            if any(unstorable(v) for v in values):
                return f"query parameter {key!r}"
        return None


class RefuseOversizedBodies:
    """A body longer than MAX_REQUEST_BYTES is a 413 before anything reads it. Django's own limit leaves out
    the files of a multipart body (commhub takes none), which were read in full, to 64 MB and beyond."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None or length <= limit:
            return self.get_response(request)
        detail = f"The request body is {length} bytes; at most {limit} are accepted (MAX_REQUEST_BYTES)."
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail, "code": "too_large"}, status=413)
        return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
