"""ASGI entry point (uvicorn in production): the whole app, and the inbox streams as coroutines."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commhub.settings")

application = get_asgi_application()
