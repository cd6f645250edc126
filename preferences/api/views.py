"""Recipients API: service clients upsert contact points by the product's user id."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from commhub.permissions import require_perms
from preferences import selectors, services

from .serializers import RecipientOutput, RecipientUpsertInput


class RecipientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RecipientOutput
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"
    filterset_fields = ["email", "phone", "locale"]

    def get_permissions(self):
        if self.action in ("update", "partial_update"):
            return [require_perms("preferences.add_recipient", "preferences.change_recipient")()]
        return [require_perms("preferences.view_recipient")()]

    def get_queryset(self):
        return selectors.recipients_all()

    @extend_schema(request=RecipientUpsertInput, responses={200: RecipientOutput, 201: RecipientOutput})
    def update(self, request, external_id=None):
        """Create or update the recipient with this external id (PUT is an upsert)."""
        payload = RecipientUpsertInput(data=request.data)
        payload.is_valid(raise_exception=True)
        recipient, created = services.recipient_upsert(external_id=external_id, **payload.validated_data)
        return Response(
            RecipientOutput(recipient).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=RecipientUpsertInput, responses={200: RecipientOutput})
    def partial_update(self, request, external_id=None):
        """Change some fields of an existing recipient (404 when there is none: use PUT to create)."""
        self.get_object()
        return self.update(request, external_id=external_id)
