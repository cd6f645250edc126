"""Install the default notification types, templates and prices that are missing (production set-up)."""

from django.core.management.base import BaseCommand

from costs.services import pricing_install_defaults
from notifications.services import catalogue_install


class Command(BaseCommand):
    help = "Create the default catalogue (types, templates, prices) where missing; never overwrites edits."

    def handle(self, *args, **options):
        types, templates = catalogue_install()
        prices = pricing_install_defaults()
        self.stdout.write(f"install_catalogue: {types} types, {templates} templates, {prices} prices created")
