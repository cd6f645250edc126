"""A bare DRF insert + enqueue endpoint: ModelSerializer, save, publish a Celery task on commit.

No template check, no channel logic, no trace, no cost: the floor a real send endpoint is measured
against in bench/api_single.py.
"""

from celery import shared_task
from django.db import transaction
from rest_framework import generics, permissions, serializers

from .models import BareNotification


@shared_task(name="bench.bare_send", ignore_result=True)
def bare_send(pk: int) -> None:
    BareNotification.objects.filter(pk=pk).update(status="sent")


class BareInput(serializers.ModelSerializer):
    class Meta:
        model = BareNotification
        fields = ["id", "recipient", "notification_type", "channel", "data"]


class BareSendView(generics.CreateAPIView):
    serializer_class = BareInput
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes: list = []  # a bare DRF endpoint: no throttle (commhub pays for its own)

    def perform_create(self, serializer):
        with transaction.atomic():
            row = serializer.save()
            transaction.on_commit(lambda: bare_send.apply_async(args=[row.pk], queue="email_education"))
