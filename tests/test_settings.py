"""Settings are safe by default: development secrets are refused without DEBUG."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def load_settings(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("SECRET_KEY", "DEBUG", "JWT_SIGNING_KEY", "SMS_PROVIDER", "TWILIO_AUTH_TOKEN", "USER_JWT_SIGNING_KEY")
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import commhub.settings"], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_the_development_secret_key_is_refused_when_debug_is_off():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0 and "SECRET_KEY is the development default" in result.stderr


def test_the_development_secret_key_is_accepted_for_local_development():
    assert load_settings(DEBUG="true").returncode == 0


def test_a_short_jwt_key_is_refused_in_production():
    result = load_settings(DEBUG="false", SECRET_KEY="s" * 50, JWT_SIGNING_KEY="short")
    assert result.returncode != 0 and "at least 32 characters" in result.stderr


def test_the_development_end_user_key_is_refused_in_production():
    dev_key = "dev-only-end-user-jwt-key-never-use-in-production"
    result = load_settings(DEBUG="false", SECRET_KEY="s" * 50, USER_JWT_SIGNING_KEY=dev_key)
    assert result.returncode != 0 and "USER_JWT_SIGNING_KEY is the development default" in result.stderr


def test_the_end_user_key_must_differ_from_the_service_key():
    result = load_settings(DEBUG="false", SECRET_KEY="s" * 50, USER_JWT_SIGNING_KEY="s" * 50)
    assert result.returncode != 0 and "must differ" in result.stderr


def test_production_without_an_end_user_key_starts_with_the_end_user_api_closed():
    result = subprocess.run(
        [sys.executable, "-c", "import commhub.settings as s; print(repr(s.USER_JWT['SIGNING_KEY']))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "USER_JWT_SIGNING_KEY"}
        | {"DEBUG": "false", "SECRET_KEY": "s" * 50},
    )
    assert result.returncode == 0 and result.stdout.strip() == "''"


def test_twilio_without_a_token_is_refused_in_production():
    result = load_settings(DEBUG="false", SECRET_KEY="s" * 50, SMS_PROVIDER="twilio")
    assert result.returncode != 0 and "TWILIO_AUTH_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("provider", "backend"),
    [
        ("mailgun", "anymail.backends.mailgun.EmailBackend"),
        ("capture", "notifications.channels.capture.CaptureEmailBackend"),
    ],
)
def test_email_provider_is_chosen_by_environment(provider, backend):
    result = subprocess.run(
        [sys.executable, "-c", "import commhub.settings as s; print(s.EMAIL_BACKEND, s.ANYMAIL)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DEBUG": "true",
            "EMAIL_PROVIDER": provider,
            "EMAIL_API_KEY": "k-123",
            "EMAIL_API_URL": "http://127.0.0.1:1/v3",
        },
    )
    assert result.returncode == 0, result.stderr
    assert backend in result.stdout
    if provider == "mailgun":
        assert (
            "'MAILGUN_API_KEY': 'k-123'" in result.stdout
            and "'MAILGUN_API_URL': 'http://127.0.0.1:1/v3'" in result.stdout
        )


@pytest.mark.parametrize(
    ("threshold", "expected"), [(None, "True 5"), ("0", "True 0"), ("off", "True None"), (" OFF ", "True None")]
)
def test_postgresql_binds_on_the_server_and_prepares_what_repeats(threshold, expected):
    code = "import commhub.settings as s; o = s.DATABASES['default']['OPTIONS']; "
    code += "print(o['server_side_binding'], o['prepare_threshold'])"
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": "postgres://u@127.0.0.1:1/x"}
    env.pop("DB_PREPARE_THRESHOLD", None)
    if threshold is not None:
        env["DB_PREPARE_THRESHOLD"] = threshold
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_prepare_threshold_that_is_no_number_is_refused_readably():
    result = load_settings(DEBUG="true", DATABASE_URL="postgres://u@127.0.0.1:1/x", DB_PREPARE_THRESHOLD="-1")
    assert result.returncode != 0
    assert "DB_PREPARE_THRESHOLD must be a whole number (0: at once) or off, not '-1'" in result.stderr


def test_every_commhub_setting_the_code_reads_exists():
    """A knob read as knobs().x anywhere must be defined (with its env var), and the code reads no knob by string."""
    import re
    from dataclasses import fields

    from django.conf import settings

    from commhub.conf import Knobs, knobs

    used: set[str] = set()
    by_string: list[str] = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or path.name == "conf.py":
            continue
        text = path.read_text()
        used |= set(re.findall(r"knobs\(\)\.([a-z_]+)", text))
        by_string += [f"{path}: {m}" for m in re.findall(r'COMMHUB\["[A-Z_]+"\]', text)]
    declared = {f.name for f in fields(Knobs)}
    missing = sorted(used - declared)
    assert used and not missing, missing
    assert not by_string, by_string
    assert {name.lower() for name in settings.COMMHUB} == declared
    assert knobs().lease_seconds == settings.COMMHUB["LEASE_SECONDS"]


def test_every_environment_variable_is_in_the_readme():
    """House rule: every knob has an env var, a default, and a line in the README."""
    import re

    settings_source = "\n".join(p.read_text() for p in sorted((ROOT / "commhub" / "settings").glob("*.py")))
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r'env\.(?:str|int|float|bool|list|db_url)\(\s*"([A-Z0-9_]+)"', settings_source))
    missing = sorted(name for name in names if name not in readme)
    assert len(names) > 40 and not missing, missing
