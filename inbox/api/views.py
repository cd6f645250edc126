"""`/api/v1/me/inbox/`: a person's in-app inbox, with the same end-user tokens as the rest of /me/. Another
person's item is a 404, never a 403 (the id tells nothing)."""

from __future__ import annotations

from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from commhub.api import StrictInput
from inbox import selectors, services
from inbox.models import InboxItem
from preferences.api.me import EndUserView


class InboxItemOutput(serializers.ModelSerializer):
    notification = serializers.UUIDField(source="notification_id", read_only=True)

    class Meta:
        model = InboxItem
        fields = [
            "id",
            "notification",
            "title",
            "body",
            "action_url",
            "action_label",
            "category",
            "created_at",
            "seen_at",
            "read_at",
            "archived_at",
        ]


class InboxFilter(serializers.Serializer):  # beside `cursor` and `page_size`
    unread = serializers.BooleanField(required=False, help_text="Only unread items (true) or only read ones (false).")
    archived = serializers.BooleanField(default=False, help_text="Archived items instead of the inbox (default false).")
    category = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="Blank: every one.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)
    cursor = serializers.CharField(required=False, allow_blank=True)


class ItemsInput(StrictInput):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=500,
        help_text="The items; none given: every item in your inbox (not archived).",
    )
    category = serializers.CharField(required=False, max_length=64, help_text="Only items of this category.")


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


COUNT = inline_serializer("UnreadCount", {"unread": serializers.IntegerField()})
CHANGED = inline_serializer(
    "InboxChanged", {"changed": serializers.IntegerField(), "unread": serializers.IntegerField()}
)


class MeInboxViewSet(EndUserView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your in-app inbox."""

    serializer_class = InboxItemOutput
    pagination_class = NewestFirst
    queryset = InboxItem.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    lookup_value_regex = "[0-9]+"

    @cached_property
    def recipient_id(self) -> int | None:
        """The caller's recipient, looked up once per request (None for someone commhub never sent to)."""
        return self.me().pk

    def mine(self):
        if getattr(self, "swagger_fake_view", False):  # the API schema is being generated: nobody is calling
            return InboxItem.objects.none()
        return selectors.inbox_of(self.recipient_id)

    def get_queryset(self):
        items = self.mine()
        if self.action != "list":
            return items
        wanted = InboxFilter(data=self.request.query_params.dict())  # an omitted flag is no filter
        wanted.is_valid(raise_exception=True)
        filters = wanted.validated_data
        items = items.filter(archived_at__isnull=not filters["archived"])
        if "unread" in filters:
            items = items.filter(read_at__isnull=filters["unread"])
        if filters.get("category"):
            items = items.filter(category=filters["category"])
        return items

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", bool),
            OpenApiParameter("archived", bool),
            OpenApiParameter("category", str),
            OpenApiParameter("cursor", str, description="From the previous page's `next` or `previous`."),
            OpenApiParameter(
                "page_size", {"type": "integer", "minimum": 1, "maximum": 100}, description="20 by default."
            ),
        ]
    )
    def list(self, request, *args, **kwargs):
        """Your items, newest first, a page at a time (follow `next`)."""
        return super().list(request, *args, **kwargs)

    def _changed(self, count: int) -> Response:
        return Response({"changed": count, "unread": selectors.unread_count(self.recipient_id)})

    @extend_schema(request=None, responses={200: COUNT})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        """The badge: how many items are unread (archived ones do not count)."""
        return Response({"unread": selectors.unread_count(self.recipient_id)})

    @extend_schema(request=None, responses={200: CHANGED})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """Mark one item read."""
        return self._changed(services.items_read(self.mine().filter(pk=self.get_object().pk)))

    @extend_schema(request=None, responses={200: CHANGED})
    @action(detail=True, methods=["post"])
    def unread(self, request, pk=None):
        """Mark one item unread again."""
        return self._changed(services.items_unread(self.mine().filter(pk=self.get_object().pk)))

    @extend_schema(request=None, responses={200: CHANGED})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Move one item out of the inbox (it stays readable with `archived=true`)."""
        return self._changed(services.items_archive(self.mine().filter(pk=self.get_object().pk), archived=True))

    @extend_schema(request=None, responses={200: CHANGED})
    @action(detail=True, methods=["post"])
    def unarchive(self, request, pk=None):
        """Put an archived item back in the inbox."""
        return self._changed(services.items_archive(self.mine().filter(pk=self.get_object().pk), archived=False))

    def _chosen(self):
        given = ItemsInput(data=self.request.data)
        given.is_valid(raise_exception=True)
        items = self.mine().filter(archived_at__isnull=True)
        if "ids" in given.validated_data:
            items = items.filter(pk__in=given.validated_data["ids"])
        if given.validated_data.get("category"):
            items = items.filter(category=given.validated_data["category"])
        return items

    @extend_schema(request=ItemsInput, responses={200: CHANGED})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        """Mark every item read (or those of `ids`, or of one `category`)."""
        return self._changed(services.items_read(self._chosen()))

    @extend_schema(request=ItemsInput, responses={200: CHANGED})
    @action(detail=False, methods=["post"])
    def seen(self, request):
        """You showed these items to the person (or every item): first sightings count as delivered."""
        return self._changed(services.items_seen(self._chosen()))
