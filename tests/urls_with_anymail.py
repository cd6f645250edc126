"""commhub's URLs with anymail's webhooks mounted, as a deployment with EMAIL_WEBHOOK_SECRET set has them."""

from django.urls import include, path

from commhub.urls import urlpatterns as commhub_urlpatterns

urlpatterns = [*commhub_urlpatterns, path("webhooks/anymail/", include("anymail.urls"))]
