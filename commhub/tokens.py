"""Service and staff tokens (simplejwt): the refresh step, checked as strictly as an access token."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password


class RefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, refusing (401, and blacklisting the token) a refresh token issued under a password
    since changed, or for a user since deleted or deactivated. simplejwt checks the password hash only on
    access tokens, and a deleted user's refresh was a 500."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = RefreshToken(attrs["refresh"])
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
        issued_under = refresh.payload.get(api_settings.REVOKE_TOKEN_CLAIM)
        if user is None or not user.is_active or issued_under != get_md5_hash_password(user.password):
            # a token issued before the blacklist existed, for a user since deleted, has no row to attach to
            with contextlib.suppress(IntegrityError), transaction.atomic():
                refresh.blacklist()
            raise AuthenticationFailed("This refresh token is no longer valid; log in again.", code="token_revoked")
        return super().validate(attrs)
