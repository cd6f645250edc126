"""Benchmark settings: commhub's own, plus the baseline endpoint of bench/bareapi."""

from commhub.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.bareapi"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
