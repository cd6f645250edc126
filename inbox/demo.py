"""`/inbox/demo/`: a product page with the inbox widget on it, signed in as a demo user. It mints an end-user
token, so it is served only when COMMHUB_INBOX_DEMO is on (the default in DEBUG: the embedded mode), never in
production by default."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from commhub.conf import knobs
from commhub.enduser import mint_user_token


def inbox_demo(request: HttpRequest) -> HttpResponse:
    if not knobs().inbox_demo:
        raise Http404("The inbox demo is off (COMMHUB_INBOX_DEMO).")
    user_id = request.GET.get("user", "123")
    if not (user_id.isascii() and user_id.isalnum() and len(user_id) <= 64):
        user_id = "123"
    context = {"user_id": user_id, "token": mint_user_token(user_id), "hub": request.build_absolute_uri("/")[:-1]}
    return render(request, "inbox/demo.html", context)
