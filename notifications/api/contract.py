"""The seed contract under /api/communication/: the orchestrator API existing clients already call.

A thin layer over the same services as /api/v1/, translating names (user_id, trigger_type,
scheduled_time) and response shapes (success flags, Celery-style statuses).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from commhub.api import ChannelField, StrictInput
from commhub.errors import DomainError, InvalidInput
from commhub.health import health_report
from commhub.permissions import require_perms
from notifications import selectors, services
from notifications.constants import Status
from notifications.idempotency import idempotent
from notifications.trace import used_fallback_channel

from .serializers import PlainSendItem, PriorityField, RecipientRefField
from .views import batch_item_requests, batch_shape_problems, send_request

# our field names -> the contract's
_FIELD_NAMES = {"recipient": "user_id", "type": "trigger_type", "send_at": "scheduled_time"}

# Existing clients read Celery task states.
_CELERY_STATE: dict[str, str] = {
    Status.SCHEDULED: "PENDING",
    Status.QUEUED: "PENDING",
    Status.PENDING: "RETRY",
    Status.SENDING: "STARTED",
    Status.UNKNOWN: "STARTED",  # sent, answer lost: waiting for the provider's callback
    Status.SENT: "SUCCESS",
    Status.DELIVERED: "SUCCESS",
    Status.FAILED: "FAILURE",
    Status.CANCELLED: "REVOKED",
    Status.SUPPRESSED: "REJECTED",
    Status.EXPIRED: "FAILURE",  # not sent before its time to live ran out
    Status.DIGESTED: "SUCCESS",  # taken: it goes out within its type's digest
}


class ContractSendInput(StrictInput):
    user_id = RecipientRefField()
    trigger_type = serializers.CharField(max_length=64)
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]  # the API names it data
    channel = ChannelField(required=False, allow_null=True)
    priority = PriorityField(required=False, allow_null=True)
    scheduled_time = serializers.DateTimeField(required=False, allow_null=True)

    plain = PlainSendItem(recipient="user_id", type_name="trigger_type", null_allowed=True)

    def to_submit_request(self) -> services.SubmitRequest:
        d = self.validated_data
        return services.SubmitRequest(
            recipient=d["user_id"],
            type=d["trigger_type"],
            data=d.get("data") or {},
            channel=d.get("channel"),
            priority=d.get("priority"),
            send_at=d.get("scheduled_time"),
        )


def _contract_errors(errors) -> dict:
    if isinstance(errors, dict):
        return {_FIELD_NAMES.get(k, k): v for k, v in errors.items()}
    return {"non_field_errors": list(errors)}


def _one_line(errors: dict) -> str:
    parts = []
    for field, messages in errors.items():
        if isinstance(messages, dict):
            parts.append(f"{field}: " + "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in messages.items()))
        else:
            parts.append(f"{field}: {' '.join(map(str, messages))}")
    return " | ".join(parts)


def _money(value) -> float:
    return float(value) if value is not None else 0.0


def _bad_request(errors) -> Response:
    errors = _contract_errors(errors)
    return Response(
        {"success": False, "message": _one_line(errors), "errors": errors}, status=status.HTTP_400_BAD_REQUEST
    )


class ContractSendView(APIView):
    permission_classes = [require_perms("notifications.send_notification")]
    throttle_scope = "sends"

    @extend_schema(
        request=ContractSendInput,
        examples=[
            OpenApiExample(
                "A critical alert to user 123",
                request_only=True,
                value={
                    "user_id": "123",
                    "trigger_type": "financial_alert",
                    "data": {"amount": "$120", "account": "checking"},
                    "priority": "critical",
                },
            )
        ],
        responses={
            200: inline_serializer(
                "ContractSendOutput",
                {
                    "success": serializers.BooleanField(),
                    "task_id": serializers.UUIDField(),
                    "cost": serializers.FloatField(),
                    "fallback_used": serializers.BooleanField(),
                    "analytics_tracked": serializers.BooleanField(),
                    "message": serializers.CharField(),
                },
            )
        },
    )
    @idempotent
    def post(self, request):
        read = send_request(request.data, ContractSendInput)
        if not isinstance(read, services.SubmitRequest):
            return _bad_request(read)
        try:
            n = services.notification_submit(read, submitted_by=request.user)
        except InvalidInput as exc:
            return _bad_request(exc.errors)
        if n.status == Status.SUPPRESSED:  # refused by the decision engine: recorded, not sent
            return Response(
                {
                    "success": False,
                    "task_id": str(n.pk),
                    "cost": 0.0,
                    "fallback_used": False,
                    "analytics_tracked": True,
                    "message": f"Communication not sent: {n.last_error}",
                }
            )
        if n.status == Status.SCHEDULED:
            message = f"Communication scheduled for {n.send_at.isoformat()}"
        else:
            message = f"Communication queued for delivery by {n.channel}"
        return Response(
            {
                "success": True,
                "task_id": str(n.pk),
                "cost": _money(n.cost),
                "fallback_used": used_fallback_channel(n.decision_trace),
                "analytics_tracked": True,
                "message": message,
            }
        )


class ContractStatusView(APIView):
    permission_classes = [require_perms("notifications.view_notification")]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ContractStatusOutput",
                {
                    "task_id": serializers.UUIDField(),
                    "status": serializers.CharField(),
                    "result": serializers.DictField(),
                    "info": serializers.DictField(),
                },
            )
        }
    )
    def get(self, request, task_id):
        n = selectors.notification_detail(task_id)
        if n is None:
            return Response(
                {
                    "task_id": str(task_id),
                    "status": "UNKNOWN",
                    "result": None,
                    "info": {"error": "No such task."},
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        fallback = next(iter(n.fallbacks.all()), None)
        effective = fallback if (n.status == Status.FAILED and fallback is not None) else n
        result = {
            "status": n.status,
            "channel": n.channel,
            "message_id": n.provider_message_id or None,
            "delivered": n.status == Status.DELIVERED,
            "cost": _money(n.cost),
            "fallback_used": fallback is not None or used_fallback_channel(n.decision_trace),
            "fallback_task_id": str(fallback.pk) if fallback else None,
            "fallback_status": fallback.status if fallback else None,
        }
        delivered_or_sent = effective.delivered_at or effective.sent_at
        info = {
            "delivery_time": delivered_or_sent.isoformat() if delivered_or_sent else None,
            "created_at": n.created_at.isoformat(),
            "send_at": n.send_at.isoformat(),
            "attempts": n.attempts,
            "last_error": n.last_error or None,
            "decision_trace": n.decision_trace,
        }
        return Response(
            {"task_id": str(n.pk), "status": _CELERY_STATE[effective.status], "result": result, "info": info}
        )


class ContractCancelView(APIView):
    permission_classes = [require_perms("notifications.cancel_notification")]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ContractCancelOutput",
                {"success": serializers.BooleanField(), "message": serializers.CharField()},
            )
        },
    )
    def post(self, request, task_id):
        try:
            services.notification_cancel(notification_id=task_id, actor=request.user)
        except DomainError as exc:
            return Response({"success": False, "message": exc.message}, status=exc.status_code)
        return Response({"success": True, "message": "Communication cancelled successfully"})


class ContractBatchView(APIView):
    permission_classes = [require_perms("notifications.send_notification")]
    throttle_scope = "sends"

    @extend_schema(
        request=inline_serializer(
            "ContractBatchInput",
            {
                "communications": serializers.ListField(
                    child=serializers.JSONField(),
                    min_length=1,
                    help_text="Up to COMMHUB_BATCH_MAX_ITEMS sends, each as for /api/communication/send; each "
                    "is validated on its own and one that is invalid (or not an object) is reported in results.",
                )
            },
        ),
        responses={
            200: inline_serializer(
                "ContractBatchOutput",
                {
                    "success": serializers.BooleanField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                    "summary": serializers.DictField(),
                },
            )
        },
    )
    @idempotent
    def post(self, request):
        items = request.data.get("communications") if isinstance(request.data, dict) else None
        problems = batch_shape_problems(items)
        if problems or not isinstance(items, list):
            return _bad_request({"communications": problems})
        parsed, errors = batch_item_requests(items, ContractSendInput)
        errors = {index: _contract_errors(item_errors) for index, item_errors in errors.items()}
        valid = [(i, r) for i, r in enumerate(parsed) if r is not None]
        outcomes = services.notifications_submit_batch([r for _, r in valid], submitted_by=request.user)
        by_index = {index: outcome for (index, _), outcome in zip(valid, outcomes, strict=True)}
        results: list[dict[str, Any]] = []
        total_cost = Decimal("0")
        for index, raw in enumerate(items):
            user_id = raw.get("user_id") if isinstance(raw, dict) else None
            outcome = by_index.get(index)
            n = outcome.notification if outcome is not None else None
            if n is not None and n.status == Status.SUPPRESSED:
                results.append(
                    {"user_id": user_id, "success": False, "task_id": str(n.pk), "error": n.last_error, "cost": 0.0}
                )
            elif n is not None:
                total_cost += n.cost or 0
                results.append({"user_id": user_id, "success": True, "task_id": str(n.pk), "cost": _money(n.cost)})
            else:
                item_errors = errors.get(index) or _contract_errors(outcome.errors if outcome is not None else {})
                results.append(
                    {
                        "user_id": user_id,
                        "success": False,
                        "error": _one_line(item_errors),
                        "errors": item_errors,
                        "cost": 0.0,
                    }
                )
        successful = sum(1 for r in results if r["success"])
        return Response(
            {
                "success": True,
                "results": results,
                "summary": {
                    "total": len(results),
                    "successful": successful,
                    "failed": len(results) - successful,
                    "total_cost": float(total_cost),
                },
            }
        )


_HEALTH = inline_serializer(
    "ContractHealthOutput",
    {
        "status": serializers.ChoiceField(choices=["healthy", "unhealthy"]),
        "services": serializers.DictField(child=serializers.BooleanField()),
        "timestamp": serializers.DateTimeField(),
    },
)


class ContractHealthView(APIView):
    permission_classes = [permissions.AllowAny]  # load balancers and orchestrators probe it unauthenticated
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: _HEALTH,
            503: OpenApiResponse(_HEALTH, description="Unhealthy: the services map says which part is down."),
        }
    )
    def get(self, request):
        report = health_report()
        return Response(
            {
                "status": "healthy" if report.ok else "unhealthy",
                "services": {name: check.ok for name, check in report.checks.items()},
                "timestamp": timezone.now().isoformat(),
            },
            status=status.HTTP_200_OK if report.ok else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


class ContractTriggerTypesView(APIView):
    permission_classes = [require_perms("notifications.view_notificationtype")]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ContractTriggerTypes",
                {"trigger_types": serializers.ListField(child=serializers.DictField())},
            )
        }
    )
    def get(self, request):
        return Response(
            {
                "trigger_types": [
                    {
                        "value": t.key,
                        "name": t.name,
                        "description": t.description,
                        "default_channel": t.default_channel,
                        "default_priority": t.priority_name,
                    }
                    for t in selectors.notification_types_all().filter(is_active=True)
                ]
            }
        )
