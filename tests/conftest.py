"""Shared fixtures: the catalogue, API clients with real JWTs, the fake providers, a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from commhub.enduser import mint_user_token
from commhub.processes import celery_worker_argv
from tests.fakes.providers import FakeProviders

ROOT = Path(__file__).resolve().parent.parent

# PBKDF2 costs ~0.3 s per password on these machines; tests create many accounts. Production keeps it.
django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_report_header(config) -> list[str]:
    db = django_settings.DATABASES["default"]
    return [
        f"commhub: database {db['ENGINE'].rsplit('.', 1)[-1]} ({db.get('HOST') or db['NAME']}), "
        f"broker {django_settings.CELERY_BROKER_URL}"
    ]


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """In-process snapshots and provider sessions must not leak from one test's database to the next."""
    from commhub.permissions import clear_permission_cache
    from commhub.snapshot import invalidate_all
    from notifications.channels.providers import reset_providers

    invalidate_all()
    clear_permission_cache()
    reset_providers()
    _forget_api_throttles()
    yield
    reset_providers()


def _forget_api_throttles() -> None:
    """API throttle buckets live in Redis beside the test database: one test's requests must not count against
    the next test's client (SQLite reuses user ids). In the database they roll back with the test."""
    from notifications.ratelimit import RedisLimiter, limiter

    store = limiter()
    if isinstance(store, RedisLimiter):
        keys = list(store.client.scan_iter("commhub:rate:api:*", count=1000))
        if keys:
            store.client.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def _stop_sender_threads_at_the_end(django_db_setup, django_db_blocker):
    """Sender threads hold database connections; the test database cannot be dropped while they live."""
    yield
    from notifications.delivery import shutdown_sender_pool

    with django_db_blocker.unblock():
        shutdown_sender_pool()


@pytest.fixture
def catalogue(db):
    from costs.services import pricing_install_defaults
    from notifications.models import NotificationType
    from notifications.services import catalogue_install

    catalogue_install()
    pricing_install_defaults()
    return {t.key: t for t in NotificationType.objects.all()}


@pytest.fixture
def recipient(db):
    from tests.factories import RecipientFactory

    return RecipientFactory(external_id="123", email="dana@example.com", phone="+14155550123")


def _client_for(user):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    client.user = user
    return client


@pytest.fixture
def api_user(db):
    from django.contrib.auth import get_user_model

    from notifications.management.commands.create_api_client import api_client_group

    user = get_user_model().objects.create_user(username="billing-backend", password="x" * 20)
    user.groups.add(api_client_group())
    return user


@pytest.fixture
def api(api_user):
    """An API client authenticated with a real JWT for a service account in the 'api clients' group."""
    return _client_for(api_user)


@pytest.fixture
def api_without_perms(db):
    from django.contrib.auth import get_user_model

    return _client_for(get_user_model().objects.create_user(username="no-perms", password="x" * 20))


# --- end users (the /me/ API) --------------------------------------------------------------------------------

USER_KEY = "end-user-key-shared-with-the-product-backend-0123456789-abcdefghijklmnop"


@pytest.fixture
def user_jwt(settings):
    """End-user tokens signed with USER_KEY (HS256), as a product backend sharing that key would mint them."""
    settings.USER_JWT = {**settings.USER_JWT, "ALGORITHM": "HS256", "SIGNING_KEY": USER_KEY}
    return settings.USER_JWT


def client_for(external_id: str):
    """An API client holding an end-user token for `external_id` (use with the user_jwt fixture)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token(external_id)}")
    return client


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviders]:
    server = FakeProviders().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server: FakeProviders) -> Iterator[FakeProviders]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


def mailgun_settings(fake: FakeProviders) -> dict:
    return {
        "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
        "ANYMAIL": {
            "MAILGUN_API_KEY": fake.mailgun_api_key,
            "MAILGUN_API_URL": f"{fake.base_url}/v3",
            "MAILGUN_SENDER_DOMAIN": "mg.example.com",
        },
    }


def postmark_settings(fake: FakeProviders) -> dict:
    return {
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL": {"POSTMARK_SERVER_TOKEN": fake.postmark_token, "POSTMARK_API_URL": f"{fake.base_url}/"},
    }


def sendgrid_settings(fake: FakeProviders) -> dict:
    return {
        "EMAIL_BACKEND": "anymail.backends.sendgrid.EmailBackend",
        "ANYMAIL": {"SENDGRID_API_KEY": fake.sendgrid_api_key, "SENDGRID_API_URL": f"{fake.base_url}/v3/"},
    }


def twilio_settings(fake: FakeProviders) -> dict:
    return {
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": fake.twilio_sid,
        "TWILIO_AUTH_TOKEN": fake.twilio_token,
        "TWILIO_API_BASE_URL": fake.base_url,
        "TWILIO_FROM_NUMBER": "+15005550006",
    }


@pytest.fixture
def via_fakes(settings, fake):
    """Email through anymail's Mailgun backend and SMS through the Twilio client, both to the fake."""
    for name, value in {**mailgun_settings(fake), **twilio_settings(fake)}.items():
        setattr(settings, name, value)
    return fake


# --- a real worker process ----------------------------------------------------------------------------


def worker_env(fake: FakeProviders | None = None, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that must see the test database, broker and fake providers."""
    db = connection.settings_dict
    env = dict(os.environ)
    if db["ENGINE"].endswith("postgresql"):
        auth = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["CELERY_BROKER_URL"] = django_settings.CELERY_BROKER_URL
    env["PYTHONPATH"] = str(ROOT)
    if fake is not None:
        env.update(
            EMAIL_PROVIDER="mailgun",
            EMAIL_API_KEY=fake.mailgun_api_key,
            EMAIL_API_URL=f"{fake.base_url}/v3",
            EMAIL_SENDER_DOMAIN="mg.example.com",
            SMS_PROVIDER="twilio",
            TWILIO_ACCOUNT_SID=fake.twilio_sid,
            TWILIO_AUTH_TOKEN=fake.twilio_token,
            TWILIO_API_BASE_URL=fake.base_url,
        )
    env.update(extra)
    return env


class WorkerProcess:
    def __init__(self, env: dict[str, str], queues: str, concurrency: int, log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            celery_worker_argv(
                queues=queues.split(","), concurrency=concurrency, name=f"test-{os.getpid()}@%h", lean=True
            ),
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-4000:]}")
            if " ready." in self.log.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_file.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start `celery -A commhub worker` as a real subprocess against the test database and broker."""
    from commhub.queues import configured_queues

    _purge_broker()
    workers: list[WorkerProcess] = []

    def _start(
        fake: FakeProviders | None = None,
        *,
        queues: str = ",".join(configured_queues()),
        concurrency: int = 1,
        **env: str,
    ) -> WorkerProcess:
        worker = WorkerProcess(worker_env(fake, **env), queues, concurrency, tmp_path / f"worker{len(workers)}.log")
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield _start
    for worker in workers:
        worker.stop()
    _purge_broker()


@pytest.fixture
def start_beat(transactional_db, tmp_path):
    """Start `celery beat` subprocesses (as many as called) against the test database and broker."""
    from commhub.processes import celery_beat_argv

    started: list[tuple[subprocess.Popen, object]] = []

    def _start(fake: FakeProviders | None = None) -> Path:
        n = len(started)
        log_path = tmp_path / f"beat{n}.log"
        log = log_path.open("w")
        proc = subprocess.Popen(
            celery_beat_argv(pidfile=str(tmp_path / f"beat{n}.pid"), schedule_file=str(tmp_path / f"beat-schedule{n}")),
            cwd=ROOT,
            env=worker_env(fake),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((proc, log))
        return log_path

    yield _start
    for proc, log in started:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()


def _purge_broker() -> None:
    """Drop wake-ups earlier tests published (nobody consumed them), so a worker starts on a clean broker."""
    url = django_settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        import redis

        redis.Redis.from_url(url).flushdb()
    elif url.startswith("filesystem://"):
        folder = Path(django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for item in folder.glob("*"):
            item.unlink(missing_ok=True)


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def point_publisher_at(url: str) -> None:
    """Make this process's Celery publisher connect to `url` from now on (pools are rebuilt)."""
    from celery import current_app
    from kombu import pools

    current_app.conf.broker_url = current_app.conf.broker_write_url = url
    pools.reset()  # kombu's process-wide connection and producer pools (closed, then forgotten)
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """This process's broker is unreachable (a port nobody listens on) until the test restores it."""
    original = django_settings.CELERY_BROKER_URL
    point_publisher_at("redis://127.0.0.1:1/0")
    yield
    point_publisher_at(original)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def web_server(argv: list[str], *, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """`python -m <argv>` serving commhub on `port` (gunicorn, uvicorn) as its own process group, once it answers
    /health; its output in `log`. Yields its base URL; stopped with SIGTERM afterwards."""
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/health", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.2)
    try:
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


@pytest.fixture
def kafka() -> Iterator[str]:
    """A Kafka protocol server (librdkafka's mock cluster, tests/fakes/kafka_cluster.py): its bootstrap address."""
    cluster = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.kafka_cluster"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    address = cluster.stdout.readline().strip() if cluster.stdout else ""
    assert ":" in address, address
    yield address
    cluster.terminate()
    cluster.wait(timeout=10)
