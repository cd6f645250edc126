"""Create (or re-role) a staff account with one of the roles (notifications/roles.py) and print its password."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from notifications.roles import ROLES, roles_install
from orgs.management.options import add_organisation_option, organisation_named
from orgs.services import membership_set


class Command(BaseCommand):
    help = "Create a staff account with a role (Viewer, Operator, Editor, Auditor, Admin) and print its password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
        parser.add_argument("--email", default="")
        parser.add_argument("--rotate-password", action="store_true", help="Set and print a new password.")
        add_organisation_option(parser)

    def handle(self, *args, username: str, role: str, email: str, rotate_password: bool, organisation: str, **options):
        username = username.strip()
        wanted = {name.lower(): name for name in ROLES}.get(role.strip().lower())
        if wanted is None:
            raise CommandError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        if not username or len(username) > 150 or "\x00" in username:
            raise CommandError("username must be 1-150 characters")
        org = organisation_named(organisation)
        roles_install()
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "email": email}
        )
        password = None
        if created or rotate_password:
            password = secrets.token_urlsafe(18)
            user.set_password(password)
        user.is_staff = True
        user.save()
        user.groups.remove(*Group.objects.filter(name__in=ROLES))  # one role at a time
        user.groups.add(Group.objects.get(name=wanted))
        membership_set(user=user, organisation=org)
        self.stdout.write(
            f"staff user: {username} ({'created' if created else 'existing'}), role {wanted}, organisation {org.slug}"
        )
        if password:
            self.stdout.write(f"password:   {password}")
