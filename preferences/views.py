"""The public one-click unsubscribe page (RFC 8058). The signed token is the only credential."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from commhub import tenancy

from .policy import mask_address
from .unsubscribe import BadUnsubscribeToken, is_unsubscribed, read_unsubscribe_token, unsubscribe

ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")


def _page(
    request: HttpRequest, state: str, *, status: int = 200, category: str = "", token: str = "", address: str = ""
) -> HttpResponse:
    response = render(
        request,
        "preferences/unsubscribe.html",
        {"state": state, "category": category, "token": token, "address": address},
        status=status,
    )
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@csrf_exempt  # mail providers POST the one-click body without a CSRF token; the signed token authenticates
@never_cache
@tenancy.every_organisation  # the signed token names the recipient, whoever's it is
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation page and changes nothing (link scanners follow GETs). POST with the RFC 8058
    body `List-Unsubscribe=One-Click`, or the page's confirm button, withdraws consent at once."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        recipient, category, channel = read_unsubscribe_token(token)
    except BadUnsubscribeToken:
        return _page(request, "invalid", status=400)
    # which address this is about, masked: the link may have been forwarded
    address = mask_address(recipient.address_for(channel)) if recipient.address_for(channel) else ""
    if request.method == "GET":
        state = "done" if is_unsubscribed(recipient, category, channel) else "confirm"
        return _page(request, state, category=category, token=token, address=address)
    one_click = request.POST.get(ONE_CLICK_BODY[0]) == ONE_CLICK_BODY[1]
    if not one_click and request.POST.get("confirm") != "yes":
        return _page(request, "confirm", status=400, category=category, token=token, address=address)
    unsubscribe(
        token=token,
        ip_address=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        how="one-click POST (RFC 8058)" if one_click else "confirmation page",
    )
    return _page(request, "done", category=category, address=address)
