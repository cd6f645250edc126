"""Install the default catalogue, prices and demo recipients (safe to run again: nothing is overwritten)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from costs.services import pricing_install_defaults
from notifications.services import catalogue_install
from preferences.models import ConsentAction, ConsentSource
from preferences.selectors import consent_ledger
from preferences.services import Evidence, consent_record, recipient_upsert

DEMO_CONSENT_TEXT = "Demo data: this person agreed to receive tips and offers by email and SMS."

DEMO_RECIPIENTS = [
    {
        "external_id": "123",
        "email": "demo.user@example.com",
        "phone": "+14155550123",
        "timezone": "America/New_York",
        "locale": "en",
        "attributes": {"first_name": "Dana"},
    },
    {
        "external_id": "456",
        "email": "sam@example.com",
        "phone": "+442079460123",
        "timezone": "Europe/London",
        "locale": "en-GB",
        "attributes": {"first_name": "Sam"},
    },
    {
        "external_id": "email-only",
        "email": "email.only@example.com",
        "timezone": "Asia/Kolkata",
        "locale": "en",
        "attributes": {"first_name": "Asha"},
    },
]


class Command(BaseCommand):
    help = "Install the notification catalogue, its templates, default prices and demo recipients."

    def add_arguments(self, parser):
        parser.add_argument("--no-recipients", action="store_true", help="Catalogue and prices only.")

    def handle(self, *args, **options):
        with transaction.atomic():
            types, templates = catalogue_install()
            prices = pricing_install_defaults()
            recipients = 0
            if not options["no_recipients"]:
                for spec in DEMO_RECIPIENTS:
                    fields: dict[str, Any] = dict(spec)
                    recipient, created = recipient_upsert(external_id=str(fields.pop("external_id")), **fields)
                    recipients += created
                    if not consent_ledger(recipient).exists():  # a demo of marketing needs a consent on file
                        for channel in ("email", "sms"):
                            if recipient.address_for(channel):
                                consent_record(
                                    recipient=recipient,
                                    channel=channel,
                                    purpose="marketing",
                                    action=ConsentAction.GRANTED,
                                    evidence=Evidence(
                                        source=ConsentSource.IMPORT, consent_text=DEMO_CONSENT_TEXT, actor="seed_demo"
                                    ),
                                )
        self.stdout.write(
            f"seed_demo: {types} types, {templates} templates, {prices} prices, {recipients} recipients created "
            "(existing rows left unchanged)"
        )
