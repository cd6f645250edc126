"""Permissions for every API view. Kept free of rest_framework.views imports: DRF loads this module
while rest_framework.views is still being imported."""

from __future__ import annotations

import threading
import time
from typing import Any

from rest_framework import permissions

from commhub.conf import knobs

_cache: dict[int, tuple[float, frozenset[str]]] = {}
_cache_lock = threading.Lock()


class DenyAll(permissions.BasePermission):
    """The default for every view: a view that forgets to name its permission serves nobody."""

    def has_permission(self, request, view) -> bool:
        return False


def user_permissions(user) -> frozenset[str]:
    """The user's permission names, cached per process for COMMHUB_PERMISSION_CACHE_SECONDS.

    Django's own check costs two queries per request (user and group permissions); an API client sends
    thousands of requests a minute with the same rights. A revoked permission stops working within the
    cache time; deactivating the user stops it at once (authentication reads the user every request).
    """
    ttl = knobs().permission_cache_seconds
    now = time.monotonic()
    cached = _cache.get(user.pk)
    if cached is not None and cached[0] > now:
        return cached[1]
    perms = frozenset(user.get_all_permissions())
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[user.pk] = (now + ttl, perms)
    return perms


def clear_permission_cache() -> None:
    _cache.clear()


def require_perms(*perms: str) -> type[permissions.BasePermission]:
    """A permission class requiring an active, authenticated user holding every permission in `perms`."""

    class _HasPerms(permissions.BasePermission):
        message = f"This token lacks the permission(s): {', '.join(perms)}."

        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated and user.is_active):
                return False
            return user.is_superuser or set(perms) <= user_permissions(user)

    _HasPerms.__name__ = "HasPerms_" + "_".join(p.replace(".", "_") for p in perms)
    return _HasPerms


def require_staff_perms(*perms: str) -> type[permissions.BasePermission]:
    """Like require_perms, and the account must be staff (template authoring is a back-office job)."""
    base: Any = require_perms(*perms)

    class _StaffWithPerms(base):
        message = f"Staff only, with the permission(s): {', '.join(perms)}."

        def has_permission(self, request, view) -> bool:
            return bool(getattr(request.user, "is_staff", False)) and super().has_permission(request, view)

    _StaffWithPerms.__name__ = "Staff" + base.__name__
    return _StaffWithPerms
