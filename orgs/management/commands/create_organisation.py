"""Create an organisation (a tenant): its own clients, staff, recipients, messages, templates and budgets."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from orgs.services import organisation_create


class Command(BaseCommand):
    help = "Create an organisation; then `create_api_client --organisation <slug>` and `create_staff_user ...`."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="e.g. billing (its name in tokens and commands)")
        parser.add_argument("--name", default="", help="a readable name")

    def handle(self, *args, slug: str, name: str, **options):
        try:
            organisation, created = organisation_create(slug=slug, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(
            f"organisation: {organisation.slug} ({'created' if created else 'existing'}), id {organisation.pk}"
        )
