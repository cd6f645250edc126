"""The end-user API (/api/v1/me/...): a person, with the token their product issued, reads and changes their
own profile settings, preferences and consent. Everything is scoped to the token's recipient: another
person's object is a 404, never a 403 that would confirm it exists."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from commhub.enduser import EndUserAuthentication, IsEndUser, end_user_of
from preferences import selectors, services
from preferences.models import ConsentRecord, ConsentSource, Preference, Recipient
from preferences.privacy import recipient_export_data

from .serializers import (
    ConsentInput,
    ConsentOutput,
    ConsentStateOutput,
    PreferenceInput,
    PreferenceOutput,
    RecipientMeInput,
    RecipientMeOutput,
)
from .views import PreferenceWritesMixin, client_ip


class EndUserView(APIView):
    # Authentication and permission shared by every /me/ view: only end-user tokens get in. (A comment, not a
    # docstring: the API documentation would show it as every operation's description.)

    authentication_classes = [EndUserAuthentication]
    permission_classes = [IsEndUser]

    def me(self, *, create: bool = False) -> Recipient:
        """The caller's recipient. Reads of a person commhub has never heard of see an empty profile;
        a write creates the recipient (contact points stay the product backend's to set)."""
        if getattr(self, "swagger_fake_view", False):  # the API schema is being generated: nobody is calling
            return Recipient(external_id="")
        external_id = end_user_of(self.request).external_id
        recipient = selectors.recipient_by_external_id(external_id)
        if recipient is None:
            if not create:
                return Recipient(external_id=external_id)
            recipient, _ = services.recipient_upsert(external_id=external_id)
        return recipient


class MeView(EndUserView, APIView):
    """Your profile as commhub holds it."""

    @extend_schema(responses={200: RecipientMeOutput})
    def get(self, request):
        """Your profile: your id, time zone, locale and the local hours you accept marketing messages in."""
        return Response(RecipientMeOutput(self.me()).data)

    @extend_schema(request=RecipientMeInput, responses={200: RecipientMeOutput})
    def patch(self, request):
        """Change your time zone, locale or the local hours you accept marketing messages in."""
        payload = RecipientMeInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        recipient, _ = services.recipient_upsert(external_id=end_user_of(request).external_id, **payload.validated_data)
        return Response(RecipientMeOutput(recipient).data)


@extend_schema_view(
    list=extend_schema(description="Your choices: each turns a type, a category or a channel on or off."),
    retrieve=extend_schema(description="One of your choices."),
    destroy=extend_schema(description="Forget a choice: the type's default applies again."),
)
class MePreferenceViewSet(EndUserView, PreferenceWritesMixin, viewsets.ModelViewSet):
    """Your notification preferences."""

    serializer_class = PreferenceOutput
    queryset = Preference.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        recipient = self.me()
        if recipient.pk is None:
            return Preference.objects.none()
        return selectors.preferences_of(recipient).select_related("recipient").order_by("pk")

    @extend_schema(request=PreferenceInput, responses={200: PreferenceOutput, 201: PreferenceOutput})
    def create(self, request):
        """Turn a type, a category or a whole channel on or off (an upsert on that scope)."""
        payload = PreferenceInput(data=request.data)
        payload.is_valid(raise_exception=True)
        return self.set_choice(self.me(create=True), payload.validated_data)


@extend_schema_view(
    list=extend_schema(description="Your consent ledger, newest first. Entries never change."),
    retrieve=extend_schema(description="One entry of your consent ledger."),
)
class MeConsentViewSet(EndUserView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your consent ledger: read it, and grant or withdraw with one call. Entries never change."""

    serializer_class = ConsentOutput
    queryset = ConsentRecord.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    pagination_class = None

    def get_queryset(self):
        recipient = self.me()
        if recipient.pk is None:
            return ConsentRecord.objects.none()
        return selectors.consent_ledger(recipient).select_related("recipient")

    @extend_schema(request=ConsentInput, responses={201: ConsentOutput})
    def create(self, request):
        """Grant or withdraw consent: a new entry in your ledger (with what you were shown)."""
        payload = ConsentInput(data=request.data)
        payload.is_valid(raise_exception=True)
        d = payload.validated_data
        record = services.consent_record(
            recipient=self.me(create=True),
            channel=d["channel"],
            purpose=d["purpose"],
            category=d.get("category") or "",
            action=d["action"],
            evidence=services.Evidence(
                source=ConsentSource.USER,
                ip_address=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                consent_text=d.get("consent_text") or "",
                actor=request.user,
            ),
        )
        return Response(ConsentOutput(record).data, status=status.HTTP_201_CREATED)


class MeConsentCurrentView(EndUserView, APIView):
    """Your consent as it stands."""

    @extend_schema(responses={200: ConsentStateOutput(many=True)})
    def get(self, request):
        """Your current consent per channel and purpose (and category, where you gave one)."""
        recipient = self.me()
        states = selectors.consent_current(recipient) if recipient.pk else []
        return Response(ConsentStateOutput(states, many=True).data)


class MeExportView(EndUserView, APIView):
    """Your data."""

    @extend_schema(responses={200: OpenApiResponse(description="Everything commhub holds about you")})
    def get(self, request):
        """Everything commhub holds about you, as JSON (GDPR articles 15 and 20)."""
        recipient = self.me()
        if recipient.pk is None:
            return Response({"recipient": {"external_id": recipient.external_id}, "notifications": []})
        return Response(recipient_export_data(recipient))
