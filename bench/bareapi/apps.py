from django.apps import AppConfig


class BareApiConfig(AppConfig):
    name = "bench.bareapi"
    label = "bareapi"
    verbose_name = "Benchmark baseline (not part of commhub)"
