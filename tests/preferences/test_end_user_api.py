"""The end-user API: a person's own token reaches only their own preferences, consent and notifications."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from notifications.constants import Status
from preferences.models import ConsentRecord, Preference
from tests.conftest import USER_KEY, client_for
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_and_bob(catalogue, user_jwt):
    alice = RecipientFactory(external_id="alice", phone="+14155550101")
    bob = RecipientFactory(external_id="bob", phone="+14155550102")
    bob_pref = Preference.objects.create(recipient=bob, category="education", channel="email", enabled=True)
    bob_consent = client_for("bob").post(
        "/api/v1/me/consents/",
        {"channel": "email", "purpose": "marketing", "action": "granted", "consent_text": "Tips by email"},
        format="json",
    )
    assert bob_consent.status_code == 201
    bob_notification = submit(recipient="bob")
    return {
        "alice": alice,
        "bob": bob,
        "bob_pref": bob_pref,
        "bob_consent_id": bob_consent.json()["id"],
        "bob_notification": bob_notification,
    }


def test_a_person_reads_and_changes_their_own_preferences(alice_and_bob):
    alice = client_for("alice")
    created = alice.post("/api/v1/me/preferences/", {"channel": "sms", "enabled": False}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["type"] is None and created.json()["channel"] == "sms"
    assert [p["id"] for p in alice.get("/api/v1/me/preferences/").json()] == [created.json()["id"]]
    changed = alice.patch(f"/api/v1/me/preferences/{created.json()['id']}/", {"enabled": True}, format="json")
    assert changed.status_code == 200 and changed.json()["enabled"] is True
    assert alice.delete(f"/api/v1/me/preferences/{created.json()['id']}/").status_code == 204


def test_a_persons_token_never_reaches_someone_elses_objects(alice_and_bob):
    alice = client_for("alice")
    bob = alice_and_bob
    pref_url = f"/api/v1/me/preferences/{bob['bob_pref'].pk}/"
    consent_url = f"/api/v1/me/consents/{bob['bob_consent_id']}/"
    notification_url = f"/api/v1/me/notifications/{bob['bob_notification'].pk}/"
    for response in [
        alice.get(pref_url),
        alice.patch(pref_url, {"enabled": False}, format="json"),
        alice.delete(pref_url),
        alice.get(consent_url),
        alice.get(notification_url),
    ]:
        assert response.status_code == 404, response.content
        assert b"bob" not in response.content and b"education" not in response.content
    assert Preference.objects.get(pk=bob["bob_pref"].pk).enabled is True
    assert alice.get("/api/v1/me/notifications/").json()["results"] == []
    assert alice.get("/api/v1/me/consents/").json() == []
    assert alice.get("/api/v1/me/preferences/").json() == []
    # ... and Bob sees his own
    assert client_for("bob").get(notification_url).status_code == 200
    assert client_for("bob").get(consent_url).json()["recipient"] == "bob"


def test_consent_entries_have_no_update_or_delete_through_the_api(alice_and_bob):
    bob = client_for("bob")
    url = f"/api/v1/me/consents/{alice_and_bob['bob_consent_id']}/"
    assert bob.patch(url, {"action": "withdrawn"}, format="json").status_code == 405
    assert bob.put(url, {"action": "withdrawn"}, format="json").status_code == 405
    assert bob.delete(url).status_code == 405
    assert ConsentRecord.objects.get(pk=alice_and_bob["bob_consent_id"]).action == "granted"


def test_withdrawing_takes_the_same_one_call_as_granting(alice_and_bob):
    bob = client_for("bob")
    body = {"channel": "email", "purpose": "marketing", "action": "withdrawn", "consent_text": "Tips by email"}
    response = bob.post("/api/v1/me/consents/", body, format="json", HTTP_USER_AGENT="BobPhone/1.0")
    assert response.status_code == 201
    record = ConsentRecord.objects.get(pk=response.json()["id"])
    assert (record.source, record.actor, record.user_agent) == ("user", "user:bob", "BobPhone/1.0")
    assert record.ip_address == "127.0.0.1" and record.text_version == ConsentRecord.version_of("Tips by email")
    current = bob.get("/api/v1/me/consents/current/").json()
    assert [(c["channel"], c["purpose"], c["action"]) for c in current] == [("email", "marketing", "withdrawn")]


def test_effective_preferences_explain_every_type_and_channel(alice_and_bob):
    alice = client_for("alice")
    alice.post("/api/v1/me/preferences/", {"category": "reminders", "enabled": False}, format="json")
    rows = {(r["type"], r["channel"]): r for r in alice.get("/api/v1/me/preferences/effective/").json()}
    assert rows[("payment_reminder", "sms")]["allowed"] is False
    assert (
        rows[("payment_reminder", "sms")]["checks"][-1]["reason"] == "You turned off category reminders by any channel."
    )
    assert rows[("financial_alert", "sms")]["allowed"] is True  # required: preferences do not apply
    assert rows[("educational_content", "email")]["allowed"] is False  # marketing, never agreed
    assert (
        "You have not agreed to receive marketing email"
        in rows[("educational_content", "email")]["checks"][-1]["reason"]
    )


def test_me_profile_reads_and_changes_only_safe_fields(alice_and_bob):
    alice = client_for("alice")
    assert alice.get("/api/v1/me/").json()["external_id"] == "alice"
    response = alice.patch(
        "/api/v1/me/",
        {"timezone": "Europe/Paris", "send_window_start": "09:00", "send_window_end": "20:00", "phone": "+1999"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["timezone"], body["send_window_start"], body["phone"]) == ("Europe/Paris", "09:00:00", "+14155550101")
    bad = alice.patch("/api/v1/me/", {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400 and "timezone" in bad.json()


def test_a_person_unknown_to_commhub_sees_an_empty_profile(user_jwt, catalogue):
    newcomer = client_for("newcomer")
    assert newcomer.get("/api/v1/me/preferences/").json() == []
    assert newcomer.get("/api/v1/me/").json()["external_id"] == "newcomer"
    assert (
        newcomer.post("/api/v1/me/preferences/", {"channel": "sms", "enabled": False}, format="json").status_code == 201
    )


def test_export_holds_my_data(alice_and_bob):
    data = client_for("bob").get("/api/v1/me/export/").json()
    assert data["recipient"]["external_id"] == "bob"
    assert [n["id"] for n in data["notifications"]] == [str(alice_and_bob["bob_notification"].pk)]
    assert len(data["consent_ledger"]) == 1


def _token(payload: dict, key: str = USER_KEY, algorithm: str = "HS256") -> str:
    now = datetime.now(UTC)
    claims = {"user_id": "alice", "iat": now, "exp": now + timedelta(minutes=5), **payload}
    return jwt.encode({k: v for k, v in claims.items() if v is not ...}, key, algorithm=algorithm)


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("expired", lambda: _token({"exp": datetime.now(UTC) - timedelta(minutes=1)})),
        ("wrong key", lambda: _token({}, key="another-key-that-is-long-enough-0123456789")),
        ("alg none", lambda: jwt.encode({"user_id": "alice", "exp": 4102444800}, None, algorithm="none")),
        ("no exp", lambda: jwt.encode({"user_id": "alice"}, USER_KEY, algorithm="HS256")),
        ("no iat", lambda: _token({"iat": ...})),
        ("issued in the future", lambda: _token({"iat": datetime.now(UTC) + timedelta(minutes=10)})),
        ("a ten-year lifetime", lambda: _token({"exp": datetime.now(UTC) + timedelta(days=3650)})),
        ("no user claim", lambda: _token({"user_id": None})),
        ("HS512 instead of HS256", lambda: _token({}, algorithm="HS512")),
        ("garbage", lambda: "not.a.jwt"),
    ],
)
def test_bad_end_user_tokens_are_401(alice_and_bob, name, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token()}")
    assert client.get("/api/v1/me/preferences/").status_code == 401, name


def test_audience_and_issuer_are_enforced_when_configured(alice_and_bob, settings):
    settings.USER_JWT = {**settings.USER_JWT, "AUDIENCE": "commhub", "ISSUER": "https://app.example.com"}
    assert client_for("alice").get("/api/v1/me/").status_code == 200  # minted with both
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token({'aud': 'commhub', 'iss': 'https://evil.example'})}")
    assert client.get("/api/v1/me/").status_code == 401


def test_tokens_of_one_kind_never_pass_as_the_other(alice_and_bob, api_user):
    service = APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(api_user).access_token}")
    assert service.get("/api/v1/me/").status_code == 401
    person = client_for(str(api_user.pk))  # a user claim equal to the service account's id
    assert person.get("/api/v1/notifications/").status_code == 401
    assert person.get("/api/v1/preferences/").status_code == 401


def test_without_a_configured_key_the_end_user_api_is_closed(catalogue, settings):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": ""}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token({})}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and "not configured" in response.json()["detail"]


def test_issue_user_token_mints_a_working_token(alice_and_bob, capsys):
    call_command("issue_user_token", "alice", "--minutes", "5")
    token = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").json()["external_id"] == "alice"


def _hs256_signed_with(secret: str) -> str:
    """A token an attacker builds by hand (PyJWT refuses to): HS256, the HMAC key being the public PEM."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"user_id": "alice", "exp": 4102444800}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_rs256_tokens_from_a_backend_with_its_own_key_pair(catalogue, settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.USER_JWT = {**settings.USER_JWT, "ALGORITHM": "RS256", "PUBLIC_KEY": public, "SIGNING_KEY": ""}
    RecipientFactory(external_id="alice")
    good = APIClient()
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {_token({}, key=pem, algorithm='RS256')}")
    assert good.get("/api/v1/me/").status_code == 200
    # key confusion: an HS256 token "signed" with the public key must not pass
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {_hs256_signed_with(public)}")
    assert forged.get("/api/v1/me/").status_code == 401


def test_keys_from_the_issuers_jwks_url_follow_a_rotation(catalogue, settings):
    """USER_JWT_JWKS_URL: the key is the one the issuer publishes under the token's `kid`; after a rotation the
    new key works without a restart and the retired one stops working."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("2026-a", "2026-b")}
    published = ["2026-a"]

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(
                {"keys": [{**json.loads(RSAAlgorithm.to_jwk(keys[k].public_key())), "kid": k} for k in published]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        jwks = {"JWKS_URL": url, "JWKS_COOLDOWN_SECONDS": 0}  # the test does not wait out the 30 s cooldown
        settings.USER_JWT = {**settings.USER_JWT, "ALGORITHM": "RS256", "SIGNING_KEY": "", **jwks}
        RecipientFactory(external_id="alice")

        def me(kid: str) -> int:
            now = datetime.now(UTC)
            claims = {"user_id": "alice", "iat": now, "exp": now + timedelta(minutes=5)}
            token = jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return client.get("/api/v1/me/").status_code

        assert me("2026-a") == 200
        assert me("2026-b") == 401  # not published yet
        published[:] = ["2026-b"]  # the issuer rotates
        assert me("2026-b") == 200
        assert me("2026-a") == 401
    finally:
        server.shutdown()


def test_the_end_users_notifications_list_shows_why(alice_and_bob):
    n = alice_and_bob["bob_notification"]
    detail = client_for("bob").get(f"/api/v1/me/notifications/{n.pk}/").json()
    assert detail["status"] == Status.QUEUED and detail["decision_trace"][0]["check"] == "type"
