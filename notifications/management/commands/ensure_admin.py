"""Create the embedded mode's admin login once, and say how to log in every time."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser with a generated password if none exists; print the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        secret_file = Path(settings.DATA_DIR) / "admin-password.txt"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="admin@commhub.localhost", password=password)
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(password + "\n")
            secret_file.chmod(0o600)
            self.stdout.write(f"admin login created: {username} / {password}")
        elif secret_file.exists():
            self.stdout.write(f"admin login: {username} / {secret_file.read_text().strip()}  (from {secret_file})")
        else:
            self.stdout.write(f"admin login: {username} (password set earlier; `manage.py changepassword {username}`)")
