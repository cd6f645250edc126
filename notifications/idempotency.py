"""`Idempotency-Key` for the endpoints that create notifications (IETF draft-ietf-httpapi-idempotency-key).

Same key + same request -> the first response again (status and body, header `Idempotent-Replayed: true`),
without a second row. Same key + a different request -> 422. Same key while the first is still running
-> 409 with Retry-After. Keys are scoped to the calling client and kept COMMHUB_IDEMPOTENCY_TTL_HOURS.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from commhub.conf import knobs

from .models import IdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_LEASE = timedelta(seconds=60)


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        body = repr(request.data)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _problem(code: int, detail: str, **headers: str) -> Response:
    response = Response({"detail": detail, "code": "idempotency"}, status=code)
    for name, value in headers.items():
        response[name] = value
    return response


def _claim(client, key: str, fingerprint: str) -> tuple[IdempotencyKey | None, Response | None]:
    """Insert the key (committed at once, so concurrent duplicates see it), or answer for the existing one."""
    now = timezone.now()
    ttl = timedelta(hours=knobs().idempotency_ttl_hours)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    client=client, key=key, fingerprint=fingerprint, locked_until=now + _LEASE, expires_at=now + ttl
                )
            return row, None
        except IntegrityError:
            pass
        with transaction.atomic():
            existing = IdempotencyKey.objects.select_for_update().filter(client=client, key=key).first()
            if existing is None:
                continue  # purged between the two statements: try the insert again
            if existing.expires_at <= now or (
                existing.state == IdempotencyKey.State.IN_PROGRESS and existing.locked_until <= now
            ):
                # expired, or abandoned by a request that died before committing anything: start afresh
                existing.delete()
                continue
            if existing.fingerprint != fingerprint:
                return None, _problem(
                    status.HTTP_422_UNPROCESSABLE_ENTITY,
                    f"Idempotency-Key {key!r} was already used with a different request.",
                )
            if existing.state == IdempotencyKey.State.IN_PROGRESS:
                return None, _problem(
                    status.HTTP_409_CONFLICT,
                    f"A request with Idempotency-Key {key!r} is still in progress; retry shortly.",
                    **{"Retry-After": "1"},
                )
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            return None, replay
    return None, _problem(
        status.HTTP_409_CONFLICT, "Idempotency-Key is contended; retry shortly.", **{"Retry-After": "1"}
    )


def idempotent(view_method):
    """Decorate a DRF view method that creates notifications. Without the header it runs as usual."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            return _problem(status.HTTP_400_BAD_REQUEST, f"{HEADER} must be 1-255 printable characters.")
        row, answer = _claim(request.user, key, _fingerprint(request))
        if answer is not None:
            return answer
        assert row is not None
        try:
            with transaction.atomic():
                response = view_method(self, request, *args, **kwargs)
                if response.status_code >= 500:
                    raise _DoNotKeep(response)
                _answered(row, response)
            return response
        except _DoNotKeep as exc:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            return exc.response
        except Exception as exc:
            # Its writes were rolled back. Answer as DRF would; a 4xx is kept and replayed like any answer.
            try:
                response = self.handle_exception(exc)
            except BaseException:
                IdempotencyKey.objects.filter(pk=row.pk).delete()  # a 500: the client's retry runs it again
                raise
            _answered(row, response)
            return response
        except BaseException:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            raise

    return wrapper


def _answered(row: IdempotencyKey, response: Response) -> None:
    IdempotencyKey.objects.filter(pk=row.pk).update(
        state=IdempotencyKey.State.DONE,
        response_status=response.status_code,
        response_body=json.loads(json.dumps(response.data, default=str)),
    )


class _DoNotKeep(Exception):
    """A 5xx is not kept: the client's retry runs the request again (nothing was committed)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def idempotency_keys_purge(*, now=None, limit: int = 10_000) -> int:
    """Delete expired keys (the sweeper calls this)."""
    now = now or timezone.now()
    ids = list(IdempotencyKey.objects.filter(expires_at__lt=now).values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    deleted, _ = IdempotencyKey.objects.filter(pk__in=ids).delete()
    return deleted
