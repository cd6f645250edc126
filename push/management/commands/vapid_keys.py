"""Print a new VAPID key pair for Web Push, as the environment lines commhub reads."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from push.vapid import generate_pair


class Command(BaseCommand):
    help = (
        "Generate a VAPID key pair for Web Push. Put VAPID_PRIVATE_KEY in commhub's environment (a secret); "
        "browsers get the public key from /api/v1/me/push/config/. A new pair orphans every existing browser "
        "subscription (they were made for the old public key)."
    )

    def handle(self, *args, **options) -> None:
        private, public = generate_pair()
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}\n# public key (served by /api/v1/me/push/config/): {public}\n")
