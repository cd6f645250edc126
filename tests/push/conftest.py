from __future__ import annotations

from collections.abc import Iterator

import pytest

from push.vapid import generate_pair
from tests.fakes.push import FakePushService


@pytest.fixture
def push_service(settings, tmp_path, user_jwt) -> Iterator[FakePushService]:
    """Push sent for real (PUSH_PROVIDER=live) to a local push service: Web Push with a fresh VAPID key, FCM with
    a fresh service account whose token endpoint is the fake."""
    fake = FakePushService().start()
    private, public = generate_pair()
    fake.vapid_public_key = public
    settings.PUSH_PROVIDER = "live"
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = "mailto:push-ops@example.com"
    settings.PUSH_ENDPOINT_HOSTS = [fake.netloc]
    settings.FCM_CREDENTIALS_FILE = str(fake.service_account_file(tmp_path))
    settings.FCM_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()
