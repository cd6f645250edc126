"""Throttles and lockouts: the 21st wrong password within a minute is a 429 with Retry-After, on the token
endpoint and the admin login, and stays locked until staff lift it; a client over its send rate gets 429; an
end user over theirs too; and every throttle holds across two gunicorn workers (the state is shared)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from commhub.enduser import mint_user_token
from tests.conftest import _client_for, free_port, web_server, worker_env

PASSWORD = "correct horse battery staple"


@pytest.fixture
def service(db):
    user = get_user_model().objects.create_user("billing", password=PASSWORD)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["send_notification", "view_notification"]))
    return user


def login(client, password: str, username: str = "billing"):
    return client.post("/api/token/", {"username": username, "password": password}, format="json")


@pytest.mark.django_db
def test_the_21st_wrong_password_is_a_429_until_staff_lift_the_lockout(service, settings):
    client = APIClient()
    answers = [login(client, f"wrong-{i}").status_code for i in range(20)]
    assert answers == [401] * 20
    locked = login(client, "wrong-21")
    assert locked.status_code == 429 and int(locked["Retry-After"]) == 15 * 60
    assert locked.json()["code"] == "locked_out"
    assert login(client, PASSWORD).status_code == 429  # the right password does not end the lockout

    # staff lift it in the admin: deleting the access attempts
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20)
    staff = APIClient()
    staff.force_login(admin)
    attempt = AccessAttempt.objects.get(username="billing")
    lifted = staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert lifted.status_code == 302
    assert login(client, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_the_admin_login_locks_out_too(service, client):
    for i in range(20):
        page = client.post("/admin/login/", {"username": "billing", "password": f"wrong-{i}"})
        assert page.status_code == 200  # the form again, with its error
    locked = client.post("/admin/login/", {"username": "billing", "password": "wrong-21"})
    assert locked.status_code == 429 and locked["Retry-After"] == str(15 * 60)


@pytest.mark.django_db
def test_sends_over_a_clients_rate_get_429_with_retry_after(catalogue, recipient, service, settings):
    settings.COMMHUB = {**settings.COMMHUB, "THROTTLE_SENDS": "5/min"}
    api = _client_for(service)
    send = {"recipient": "123", "type": "financial_alert", "data": {"amount": "$1", "account": "checking"}}
    answers = [api.post("/api/v1/notifications/", send, format="json").status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]
    refused = api.post("/api/communication/send", {"user_id": "123", "trigger_type": "financial_alert"}, format="json")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    # a batch draws one unit per item: the bucket is empty, so a batch of 3 waits too
    batch = api.post("/api/v1/notifications/batch/", {"notifications": [send] * 3}, format="json")
    assert batch.status_code == 429
    # reading is another bucket: still open
    assert api.get("/api/v1/notifications/").status_code == 200


@pytest.mark.django_db
def test_an_end_user_over_their_rate_gets_429(catalogue, recipient, settings):
    settings.COMMHUB = {**settings.COMMHUB, "THROTTLE_END_USER": "3/min"}
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "throttle-end-user-key-" + "k" * 40}
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('123')}")
    assert [person.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    other = APIClient()  # another end user has their own bucket
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('456')}")
    assert other.get("/api/v1/me/").status_code in (200, 404)


@pytest.fixture
def two_workers(transactional_db, tmp_path):
    """commhub under gunicorn with two worker processes, sharing nothing but the database and Redis."""
    port = free_port()
    env = worker_env(COMMHUB_THROTTLE_SENDS="10/min", COMMHUB_THROTTLE_LOGIN="1000/min", DEBUG="false")
    env.setdefault("SECRET_KEY", "throttle-test-" + "s" * 50)
    env.setdefault("USER_JWT_SIGNING_KEY", "throttle-test-user-" + "u" * 40)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    argv = ["gunicorn", "commhub.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", "-"]
    argv += ["--access-logformat", "served-by %(p)s %(s)s"]
    with web_server(argv, port=port, env=env, log=tmp_path / "gunicorn.log") as url:
        yield url, tmp_path / "gunicorn.log"


def test_throttles_hold_across_two_gunicorn_workers(catalogue, recipient, two_workers, settings):
    url, log = two_workers
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # one the server knows
    user = get_user_model().objects.create_user("marketing", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="send_notification"))
    token = requests.post(f"{url}/api/token/", json={"username": "marketing", "password": PASSWORD}, timeout=10)
    assert token.status_code == 200, token.text[:300]
    headers = {"Authorization": f"Bearer {token.json()['access']}"}
    send = {"recipient": "123", "type": "financial_alert", "data": {"amount": "$1", "account": "checking"}}
    # new connections, four at a time: a sync worker busy with one, the other accepts the next (one at a time,
    # the kernel may hand every connection to the same worker and the test would not show the limit is shared)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: requests.post(f"{url}/api/v1/notifications/", json=send, headers=headers, timeout=10),
                range(14),
            )
        )
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 10 and codes.count(429) == 4, codes
    assert all(a.headers.get("Retry-After") for a in answers if a.status_code == 429)

    wrong = [
        requests.post(f"{url}/api/token/", json={"username": "marketing", "password": f"no-{i}"}, timeout=10)
        for i in range(21)
    ]
    assert [w.status_code for w in wrong] == [401] * 20 + [429]
    served = [line.split() for line in log.read_text().splitlines() if line.startswith("served-by")]
    by_worker = {pid for _, pid, status in served if status in ("202", "429")}
    assert len(by_worker) == 2, served  # both workers answered, and the limits still held


@pytest.mark.django_db
def test_a_refresh_token_is_used_once_and_dies_with_a_password_change(service):
    client = APIClient()
    first = login(client, PASSWORD).json()
    refreshed = client.post("/api/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert refreshed.status_code == 200 and refreshed.json()["refresh"] != first["refresh"]
    assert client.post("/api/token/refresh/", {"refresh": first["refresh"]}, format="json").status_code == 401

    latest = refreshed.json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {latest['access']}")
    assert api.get("/api/v1/notifications/").status_code == 200
    service.set_password("a brand new passphrase")
    service.save()
    assert api.get("/api/v1/notifications/").status_code == 401  # the access token too
    assert client.post("/api/token/refresh/", {"refresh": latest["refresh"]}, format="json").status_code == 401
    service.delete()
    assert client.post("/api/token/refresh/", {"refresh": latest["refresh"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_behind_a_proxy_the_callers_address_is_the_proxys_view_not_a_forged_header(service, settings):
    """One proxy in front: the address it appended counts, whatever the caller put further left; with no proxy
    configured the header is ignored (a caller cannot dodge a lockout by sending a new one each time)."""
    settings.COMMHUB = {**settings.COMMHUB, "THROTTLE_LOGIN": "2/min"}
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR="10.0.0.2")  # the proxy

    def attempt(forged: str, real: str) -> int:
        return client.post(
            "/api/token/",
            {"username": "nobody", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"{forged}, {real}",
        ).status_code

    assert [attempt(f"1.1.1.{i}", "203.0.113.5") for i in range(3)] == [401, 401, 429]
    assert attempt("1.1.1.9", "203.0.113.6") == 401  # another caller behind the same proxy has their own bucket
    settings.TRUSTED_PROXY_COUNT = 0
    direct = APIClient(REMOTE_ADDR="198.51.100.1")
    codes = [
        direct.post(
            "/api/token/", {"username": "n", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 429]


@pytest.mark.django_db
def test_throttles_fail_open_when_their_store_is_down(catalogue, recipient, service, settings):
    """Redis down: sends are still accepted (they are committed rows; the throttle protects capacity)."""
    from notifications import ratelimit

    settings.COMMHUB = {**settings.COMMHUB, "RATE_LIMIT_REDIS_URL": "redis://127.0.0.1:1/0", "THROTTLE_SENDS": "1/min"}
    ratelimit._limiter = None  # the next call builds a limiter for the unreachable store
    try:
        api = _client_for(service)
        send = {"recipient": "123", "type": "financial_alert", "data": {"amount": "$1", "account": "checking"}}
        answers = [api.post("/api/v1/notifications/", send, format="json").status_code for _ in range(2)]
        assert answers == [202, 202]
    finally:
        ratelimit._limiter = None


@pytest.mark.django_db
def test_a_refresh_token_older_than_the_blacklist_of_a_deleted_user_is_a_401(service):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    token = str(RefreshToken.for_user(service))
    OutstandingToken.objects.all().delete()  # as if issued before the blacklist app was installed
    service.delete()
    assert APIClient().post("/api/token/refresh/", {"refresh": token}, format="json").status_code == 401
