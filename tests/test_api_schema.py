"""schemathesis against the live OpenAPI schema, with all its default checks (no server error, documented status
codes, content types and response bodies, schema-valid requests accepted, schema-violating ones refused):
`st run` as a user would run it, against a live server on the suite's database with the demo catalogue, once as
a service account (everything but /me/) and once as an end user (/me/). schemathesis.toml, at the top of the
repository, lists the operations whose 400s depend on stored data, and why.

Bounded: EXAMPLES examples per operation and phase, a fixed seed, one worker. With them the two runs generate
about 3,500 test cases."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework_simplejwt.tokens import RefreshToken

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 10
SEED = 1
ST = Path(shutil.which("st") or Path(__file__).resolve().parents[1] / ".venv/bin/st")


@pytest.fixture
def hub(live_server, tmp_path, settings):
    """A live server with the demo catalogue, its schema saved to a file, a staff token and an end user's."""
    settings.DEBUG = False  # error pages as production serves them
    # schemathesis sends thousands of requests a minute from one client: the throttles have their own tests
    rates = dict.fromkeys(("THROTTLE_CLIENT", "THROTTLE_END_USER", "THROTTLE_SENDS", "THROTTLE_ANON"), "1000000/min")
    settings.COMMHUB = {**settings.COMMHUB, **rates}
    settings.USER_JWT = {**settings.USER_JWT, "ALGORITHM": "HS256", "SIGNING_KEY": "schema-test-" + "k" * 40}
    call_command("seed_demo", stdout=io.StringIO())
    admin = get_user_model().objects.create_superuser("schema-admin", "schema-admin@example.com", "x" * 20)
    staff_token = str(RefreshToken.for_user(admin).access_token)
    out = io.StringIO()
    call_command("issue_user_token", "123", stdout=out)
    person_token = out.getvalue().strip().splitlines()[-1]
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200, schema.text[:500]
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema.json()))
    return {"url": live_server.url, "schema": path, "staff": staff_token, "person": person_token}


def st_run(hub: dict, token: str, *selection: str) -> subprocess.CompletedProcess:
    command = [
        str(ST),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        str(hub["schema"]),
        "--url",
        hub["url"],
        "-H",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
        *selection,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=hub["schema"].parent)


def _summary(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}"


def test_the_service_api_passes_schemathesis_default_checks(hub):
    result = st_run(hub, hub["staff"], "--exclude-path-regex", "/me/")
    assert result.returncode == 0, _summary(result)
    assert " passed" in result.stdout and "generated" in result.stdout, _summary(result)


def test_the_end_user_api_passes_schemathesis_default_checks(hub):
    result = st_run(hub, hub["person"], "--include-path-regex", "/me/")
    assert result.returncode == 0, _summary(result)
    assert " passed" in result.stdout and "generated" in result.stdout, _summary(result)
