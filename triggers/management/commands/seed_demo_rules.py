"""Install the demo rule (safe to run again: an existing rule is left as it is)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from commhub import tenancy
from notifications.models import NotificationType
from orgs.models import Organisation
from triggers.models import Rule
from triggers.services import rule_version_draft, rule_version_publish

# The README's worked example: a failed payment makes a financial alert to the people the event names.
DUNNING = {
    "condition": "data.attempt >= 1",
    "recipients_from": "event",
    "data_map": {"amount": "data.amount", "account": "data.account"},
}


class Command(BaseCommand):
    help = "Install the demo rule `dunning` (event payment.failed -> financial_alert) in an organisation."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", default="default", help="Slug (default: default).")

    def handle(self, *args, organisation="default", **options):
        with tenancy.everything():
            owner = Organisation.objects.filter(slug=organisation).first()
        if owner is None:
            raise CommandError(f"no organisation {organisation!r}")
        with tenancy.within(owner.pk), transaction.atomic():
            if Rule.objects.filter(key="dunning").exists():
                self.stdout.write("seed_demo_rules: rule dunning exists (left unchanged)")
                return
            ntype = NotificationType.objects.filter(key="financial_alert").first()
            if ntype is None:
                raise CommandError("no type financial_alert: run seed_demo (or install_catalogue) first")
            rule = Rule.objects.create(key="dunning", event_name="payment.failed")
            rule_version_publish(version=rule_version_draft(rule=rule, notification_type=ntype, **DUNNING))
        self.stdout.write("seed_demo_rules: rule dunning (payment.failed -> financial_alert) published")
