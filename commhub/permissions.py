"""Permissions for every API view. Kept free of rest_framework.views imports: DRF loads this module
while rest_framework.views is still being imported."""

from __future__ import annotations

from rest_framework import permissions


class DenyAll(permissions.BasePermission):
    """The default for every view: a view that forgets to name its permission serves nobody."""

    def has_permission(self, request, view) -> bool:
        return False


def require_perms(*perms: str) -> type[permissions.BasePermission]:
    """A permission class requiring an authenticated user holding every Django permission in `perms`."""

    class _HasPerms(permissions.BasePermission):
        message = f"This token lacks the permission(s): {', '.join(perms)}."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    _HasPerms.__name__ = "HasPerms_" + "_".join(p.replace(".", "_") for p in perms)
    return _HasPerms
