from django.urls import path

from bench.bareapi.views import BareSendView
from commhub.urls import urlpatterns as commhub_urlpatterns

urlpatterns = [*commhub_urlpatterns, path("bench/bare/", BareSendView.as_view())]
