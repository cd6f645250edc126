"""Mint an end-user token for a recipient, as the product's backend would (testing and support)."""

from django.core.management.base import BaseCommand, CommandError

from commhub.enduser import TokenNotConfigured, mint_user_token


class Command(BaseCommand):
    help = "Print an end-user JWT for /api/v1/me/ whose user claim is EXTERNAL_ID."

    def add_arguments(self, parser):
        parser.add_argument("external_id", help="The recipient's external id (the product's user id).")
        parser.add_argument("--minutes", type=int, default=None, help="Lifetime (default USER_JWT_TTL_MINUTES).")
        parser.add_argument(
            "--organisation",
            default="",
            help="the recipient's organisation (slug; its key in USER_JWT_ORGANISATION_KEYS)",
        )

    def handle(self, *args, external_id: str, minutes: int | None, organisation: str, **options):
        external_id = external_id.strip()
        if not external_id or len(external_id) > 128:
            raise CommandError("external_id must be 1-128 characters")
        if minutes is not None and not 1 <= minutes <= 7 * 24 * 60:
            raise CommandError("--minutes must be between 1 and 10080 (a week)")
        try:
            self.stdout.write(mint_user_token(external_id, ttl_minutes=minutes, organisation=organisation.strip()))
        except TokenNotConfigured as exc:
            raise CommandError(str(exc)) from exc
