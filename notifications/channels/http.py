"""Shared HTTP tuning for provider sessions (anymail's and Twilio's, both `requests`)."""

from __future__ import annotations

import os

import requests

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def environment_has_proxies() -> bool:
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


def tune_session(session: requests.Session | None) -> None:
    """Stop `requests` from re-reading the whole environment on every call.

    With `trust_env` on, each request scans os.environ for proxy settings and .netrc for credentials:
    about a millisecond of CPU per provider call. When no proxy variable is set there is nothing to
    find, so switch it off; when one is set, keep the standard behaviour (NO_PROXY included).
    """
    if session is not None and not environment_has_proxies():
        session.trust_env = False
