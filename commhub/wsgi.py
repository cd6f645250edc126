"""WSGI entry point (gunicorn commhub.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commhub.settings")

application = get_wsgi_application()

# Everything loaded so far lives as long as the process: keep it out of the collector's scans, and collect the
# young generation less often (a batch submit allocates ~100 objects per item, mostly freed by reference counting).
gc.freeze()
gc.set_threshold(50_000, 20, 100)
