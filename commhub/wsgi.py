"""WSGI entry point (gunicorn commhub.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from commhub.memory import WEB_YOUNG, settle_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commhub.settings")

application = get_wsgi_application()
settle_collector(young=WEB_YOUNG)  # what is loaded now lives as long as the process (commhub.memory)
