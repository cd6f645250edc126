"""Organisations (tenants) and who belongs to which. The scoping itself is commhub.tenancy's."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from commhub.tenancy import DEFAULT_ORGANISATION_ID


class Organisation(models.Model):
    """A product backend's tenancy: its service clients, staff, recipients, messages, templates and budgets see
    nothing of another organisation's. Migration 0001 creates the default one, which also owns the shared
    catalogue (notification types, layouts, partials, the default templates and prices)."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Its name in tokens and commands, e.g. billing.")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True, help_text="Inactive: its clients and staff are refused.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.pk == DEFAULT_ORGANISATION_ID


class Membership(models.Model):
    """The one organisation a service client or staff user belongs to. A user without one belongs to the default
    organisation; a superuser sees every organisation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="members")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation}"
