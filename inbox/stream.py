"""`GET /api/v1/me/inbox/stream/`: a person's inbox as Server-Sent Events (why SSE: README, In-app inbox).

Each event is a row of InboxEvent (`id:` its id, `event:` new/seen/read/unread/archived/unarchived, `data:` the
item and the unread count). A client that reconnects sends `Last-Event-ID` (browsers' EventSource do it
themselves; `?last_event_id=` works too) and is sent every event after it; a fresh connection starts with an
`unread` event (the badge) and then what happens next. Between events a stream waits for its person's wake-up
(Redis pub/sub, see events.py) or checks the database twice a second without Redis, and sends a comment every
15 s so proxies keep the connection. A stream ends after COMMHUB_STREAM_MAX_SECONDS (clients reconnect with
their last id). Under an ASGI server (uvicorn: production) a stream costs a coroutine; under a WSGI server
(the embedded mode's runserver) it holds a thread, which is fine for a handful of people.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from commhub import tenancy
from commhub.conf import knobs
from commhub.enduser import EndUserAuthentication
from preferences.selectors import recipient_by_external_id

from .api.views import InboxItemOutput
from .events import channel_of
from .models import InboxEvent
from .selectors import unread_count

CHECK_SECONDS = 0.5  # without Redis: how often a stream looks for new events
WAKE_WAIT_SECONDS = 5.0  # with Redis: the longest a stream waits for a wake-up before it looks anyway
KEEP_ALIVE_SECONDS = 15.0


class _Stream:
    """One connection's place in a person's inbox: who (their recipient may not exist yet when they connect: it
    appears at their first send), the last event sent, and when it ends. Both servers' loops drive it."""

    def __init__(self, external_id: str, organisation_id: int, last_id: int | None) -> None:
        self.external_id, self.organisation_id = external_id, organisation_id
        self.recipient_id: int | None = None
        self.last_id = last_id
        self.ends = time.monotonic() + knobs().stream_max_seconds
        self.quiet_since = time.monotonic()

    def resolve(self) -> int | None:
        if self.recipient_id is None:
            with tenancy.within(self.organisation_id):
                found = recipient_by_external_id(self.external_id)
            self.recipient_id = found.pk if found is not None else None
        return self.recipient_id

    def is_open(self) -> bool:
        return time.monotonic() < self.ends

    def opening(self) -> list[str]:
        """The first frames: the retry delay, and for a fresh connection (no last id) the badge as it is now."""
        if self.last_id is not None:
            return ["retry: 2000\n\n"]
        recipient_id, unread = self.resolve(), 0
        self.last_id = 0
        if recipient_id is not None:
            with tenancy.within(self.organisation_id):
                latest = (
                    InboxEvent.objects.filter(recipient_id=recipient_id).order_by("-id").values_list("id", flat=True)
                )
                self.last_id, unread = latest.first() or 0, unread_count(recipient_id)
        return ["retry: 2000\n\n", _frame(None, "unread", {"unread": unread})]

    def next_frames(self) -> list[str]:
        """The events after the last one sent (at most 100 at a time), or a keep-alive comment after a quiet spell."""
        events = self._events()
        now = time.monotonic()
        if events:
            self.quiet_since = now
            self.last_id = events[-1][0]
            return [_frame(*event) for event in events]
        if now - self.quiet_since > KEEP_ALIVE_SECONDS:
            self.quiet_since = now
            return [": keep-alive\n\n"]
        return []

    def _events(self) -> list[tuple[int, str, dict[str, Any]]]:
        recipient_id = self.resolve()
        if recipient_id is None:
            return []
        with tenancy.within(self.organisation_id):
            events = list(
                InboxEvent.objects.filter(recipient_id=recipient_id, id__gt=self.last_id or 0)
                .select_related("item")
                .order_by("id")[:100]
            )
            if not events:
                return []
            unread = unread_count(recipient_id)
        return [(e.pk, e.kind, {"item": InboxItemOutput(e.item).data, "unread": unread}) for e in events]


def _frame(event_id: int | None, kind: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _authenticate(request: HttpRequest) -> Any:
    found = EndUserAuthentication().authenticate(Request(request))
    if found is None:
        raise AuthenticationFailed("An end-user token is required: Authorization: Bearer <token>.")
    return found[0]


async def inbox_stream(request: HttpRequest) -> HttpResponseBase:
    """Your inbox, live: Server-Sent Events (see the module docstring)."""
    try:
        user = await sync_to_async(_authenticate)(request)
    except AuthenticationFailed as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=401, headers={"WWW-Authenticate": "Bearer"})
    given = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if given is not None and not (given.isascii() and given.isdigit() and len(given) < 19):
        return JsonResponse({"last_event_id": ["A whole number: the id of the last event you received."]}, status=400)
    stream = _Stream(user.external_id, user.organisation_id, int(given) if given is not None else None)
    events = _async_events(stream) if isinstance(request, ASGIRequest) else _sync_events(stream)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _async_events(stream: _Stream) -> AsyncIterator[str]:
    for frame in await sync_to_async(stream.opening)():
        yield frame
    url = knobs().realtime_redis_url
    client = redis.asyncio.Redis.from_url(url) if url else None
    pubsub = client.pubsub() if client is not None else None
    subscribed = False
    try:
        while stream.is_open():
            if pubsub is not None and not subscribed and stream.recipient_id is not None:
                try:
                    await pubsub.subscribe(channel_of(stream.recipient_id))
                    subscribed = True
                except redis.RedisError:  # Redis is away: this stream looks in the database instead
                    pubsub = None
            for frame in await sync_to_async(stream.next_frames)():
                yield frame
            if pubsub is not None and subscribed:
                try:
                    await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAKE_WAIT_SECONDS)
                except redis.RedisError:
                    await asyncio.sleep(CHECK_SECONDS)  # Redis is away: look in the database meanwhile
            else:
                await asyncio.sleep(CHECK_SECONDS)
    finally:
        if client is not None:
            await client.aclose()


def _sync_events(stream: _Stream) -> Iterator[str]:
    yield from stream.opening()
    while stream.is_open():
        yield from stream.next_frames()
        time.sleep(CHECK_SECONDS)
