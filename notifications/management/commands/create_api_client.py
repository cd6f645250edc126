"""Create (or refresh) a service account for a product backend and print a token for it."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from rest_framework_simplejwt.tokens import RefreshToken

from orgs.management.options import add_organisation_option, organisation_named
from orgs.services import membership_set

API_CLIENT_GROUP = "api clients"
API_CLIENT_PERMISSIONS = [
    ("notifications", "send_notification"),
    ("notifications", "view_notification"),
    ("notifications", "cancel_notification"),
    ("notifications", "retry_notification"),
    ("notifications", "view_notificationtype"),
    ("preferences", "view_recipient"),
    ("preferences", "add_recipient"),
    ("preferences", "change_recipient"),
    ("preferences", "export_recipient"),
    ("preferences", "view_preference"),
    ("preferences", "add_preference"),
    ("preferences", "change_preference"),
    ("preferences", "delete_preference"),
    ("preferences", "view_consentrecord"),
    ("preferences", "add_consentrecord"),
    ("preferences", "view_suppression"),
    ("preferences", "add_suppression"),
    ("hooks", "view_webhookendpoint"),
    ("hooks", "add_webhookendpoint"),
    ("hooks", "change_webhookendpoint"),
    ("hooks", "delete_webhookendpoint"),
    ("hooks", "view_eventsubscription"),
    ("hooks", "add_eventsubscription"),
    ("hooks", "change_eventsubscription"),
    ("hooks", "delete_eventsubscription"),
    ("calls", "view_call"),
    ("calls", "add_call"),
    ("calls", "change_call"),
    ("triggers", "add_event"),
    ("triggers", "view_event"),
    ("broadcasts", "view_topic"),
    ("broadcasts", "add_topic"),
    ("broadcasts", "change_topic"),
    ("broadcasts", "view_broadcast"),
    ("broadcasts", "add_broadcast"),
    ("broadcasts", "change_broadcast"),
]


def api_client_group() -> Group:
    group, _ = Group.objects.get_or_create(name=API_CLIENT_GROUP)
    perms = [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in API_CLIENT_PERMISSIONS]
    group.permissions.add(*perms)
    return group


class Command(BaseCommand):
    help = "Create an API client account (member of the 'api clients' group) and print a JWT pair for it."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Account name, e.g. billing-backend")
        parser.add_argument("--rotate-password", action="store_true", help="Set and print a new password.")
        add_organisation_option(parser)

    def handle(self, *args, name: str, rotate_password: bool, organisation: str, **options):
        name = name.strip()
        if not name or len(name) > 150:
            raise CommandError("name must be 1-150 characters")
        org = organisation_named(organisation)
        User = get_user_model()
        user, created = User.objects.get_or_create(username=name, defaults={"is_staff": False})
        password = None
        if created or rotate_password:
            password = secrets.token_urlsafe(24)
            user.set_password(password)
            user.save()
        user.groups.add(api_client_group())
        membership_set(user=user, organisation=org)
        refresh = RefreshToken.for_user(user)
        self.stdout.write(f"api client: {name} ({'created' if created else 'existing'}), organisation {org.slug}")
        if password:
            self.stdout.write(f"password:   {password}   (POST /api/token/ with it for new tokens)")
        self.stdout.write(f"access:     {refresh.access_token}")
        self.stdout.write(f"refresh:    {refresh}")
