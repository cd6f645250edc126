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


class _Person:
    """Who a stream serves; their recipient may not exist yet when they connect (it appears at their first send)."""

    def __init__(self, external_id: str, organisation_id: int) -> None:
        self.external_id, self.organisation_id = external_id, organisation_id
        self.recipient_id: int | None = None

    def resolve(self) -> int | None:
        if self.recipient_id is None:
            with tenancy.within(self.organisation_id):
                found = recipient_by_external_id(self.external_id)
            self.recipient_id = found.pk if found is not None else None
        return self.recipient_id

    def start(self) -> tuple[int, int]:
        """(the last event's id now, the unread count): where a fresh connection starts."""
        recipient_id = self.resolve()
        if recipient_id is None:
            return 0, 0
        with tenancy.within(self.organisation_id):
            last = InboxEvent.objects.filter(recipient_id=recipient_id).order_by("-id").values_list("id", flat=True)
            return (last.first() or 0, unread_count(recipient_id))

    def after(self, last_id: int) -> list[str]:
        """The frames of the events after `last_id` (at most 100 at a time)."""
        recipient_id = self.resolve()
        if recipient_id is None:
            return []
        with tenancy.within(self.organisation_id):
            events = list(
                InboxEvent.objects.filter(recipient_id=recipient_id, id__gt=last_id)
                .select_related("item")
                .order_by("id")[:100]
            )
            if not events:
                return []
            unread = unread_count(recipient_id)
        return [_frame(e.pk, e.kind, {"item": InboxItemOutput(e.item).data, "unread": unread}) for e in events]


def _frame(event_id: int | None, kind: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _last_id(frames: list[str], last_id: int) -> int:
    for frame in reversed(frames):
        if frame.startswith("id: "):
            return int(frame[4 : frame.index("\n")])
    return last_id


def _authenticate(request: HttpRequest) -> _Person:
    found = EndUserAuthentication().authenticate(Request(request))
    if found is None:
        raise AuthenticationFailed("An end-user token is required: Authorization: Bearer <token>.")
    user = found[0]
    return _Person(user.external_id, user.organisation_id)


async def inbox_stream(request: HttpRequest) -> HttpResponseBase:
    """Your inbox, live: Server-Sent Events (see the module docstring)."""
    try:
        person = await sync_to_async(_authenticate)(request)
    except AuthenticationFailed as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=401, headers={"WWW-Authenticate": "Bearer"})
    given = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if given is not None and not (given.isascii() and given.isdigit() and len(given) < 19):
        return JsonResponse({"last_event_id": ["A whole number: the id of the last event you received."]}, status=400)
    last_id = int(given) if given is not None else None
    stream = _async_events(person, last_id) if isinstance(request, ASGIRequest) else _sync_events(person, last_id)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _async_events(person: _Person, last_id: int | None) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    if last_id is None:
        last_id, unread = await sync_to_async(person.start)()
        yield _frame(None, "unread", {"unread": unread})
    url = knobs().realtime_redis_url
    client = redis.asyncio.Redis.from_url(url) if url else None
    pubsub = client.pubsub() if client is not None else None
    subscribed_to: int | None = None
    ends = time.monotonic() + knobs().stream_max_seconds
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < ends:
            if pubsub is not None and subscribed_to is None and person.recipient_id is not None:
                try:
                    await pubsub.subscribe(channel_of(person.recipient_id))
                    subscribed_to = person.recipient_id
                except redis.RedisError:  # Redis is away: this stream looks in the database instead
                    pubsub = None
            frames = await sync_to_async(person.after)(last_id)
            for frame in frames:
                yield frame
            last_id = _last_id(frames, last_id)
            if frames:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            if pubsub is not None and subscribed_to is not None:
                try:
                    await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAKE_WAIT_SECONDS)
                except redis.RedisError:
                    await asyncio.sleep(CHECK_SECONDS)  # Redis is away: look in the database meanwhile
            else:
                await asyncio.sleep(CHECK_SECONDS)
    finally:
        if client is not None:
            await client.aclose()


def _sync_events(person: _Person, last_id: int | None) -> Iterator[str]:
    yield "retry: 2000\n\n"
    if last_id is None:
        last_id, unread = person.start()
        yield _frame(None, "unread", {"unread": unread})
    ends = time.monotonic() + knobs().stream_max_seconds
    quiet_since = time.monotonic()
    while time.monotonic() < ends:
        frames = person.after(last_id)
        yield from frames
        last_id = _last_id(frames, last_id)
        if frames:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        time.sleep(CHECK_SECONDS)
