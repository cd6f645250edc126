"""commhub settings: every knob from the environment, one module per concern.

The defaults give the embedded mode (SQLite, the filesystem Celery broker, email and SMS captured in the
database) so a fresh checkout runs with no servers. Production differs only through environment variables;
every one of them is listed in the README's configuration table.

    base.py           secrets, hosts, apps, middleware, static files, security headers
    database.py       DATABASE_URL and connection reuse
    api.py            DRF, the OpenAPI schema, service-account and end-user JWTs
    broker.py         Celery (the broker carries wake-ups only; the database row is the queue of record)
    email.py          django-anymail: the ESP, its webhooks, failover ESPs
    sms.py            Twilio: credentials, senders, callbacks
    push.py           Web Push (VAPID) and FCM
    hooks.py          outbound webhooks: allowed hosts, timeouts, secret rotation
    pipeline.py       commhub's own knobs (COMMHUB; read them typed through commhub.conf.knobs())
    observability.py  Prometheus and logging

A module imports what it needs from the others (e.g. the pipeline's rate-limit store defaults to the broker's Redis).
"""

from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .broker import *  # noqa: F403
from .calls import *  # noqa: F403
from .database import *  # noqa: F403
from .email import *  # noqa: F403
from .events import *  # noqa: F403
from .hooks import *  # noqa: F403
from .observability import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .push import *  # noqa: F403
from .sms import *  # noqa: F403
