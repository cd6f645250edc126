from django.contrib import admin
from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from analytics.api import views as analytics_views
from analytics.views import dashboard_view
from audit.api.views import AuditEntryViewSet
from broadcasts.api.me import MeTopicViewSet
from broadcasts.api.views import BroadcastViewSet, TopicViewSet
from calls.api.views import CallViewSet
from calls.views import twilio_call_status
from commhub.health import health_view, live_view, ready_view
from commhub.metrics import metrics_view
from commhub.throttling import lockout_response
from hooks.api.views import EventSubscriptionViewSet, WebhookEndpointViewSet
from inbox.api.views import MeInboxViewSet
from inbox.demo import inbox_demo
from inbox.stream import inbox_stream
from notifications.api.me import MeEffectivePreferencesView, MeNotificationViewSet
from notifications.api.urls import contract_urlpatterns
from notifications.api.views import NotificationTypeViewSet, NotificationViewSet
from notifications.webhooks import esp_webhook_urlpatterns, twilio_inbound_sms, twilio_status_callback
from preferences.api import me
from preferences.api.views import ConsentRecordViewSet, PreferenceViewSet, RecipientViewSet, SuppressionViewSet
from preferences.views import unsubscribe_view
from push.api.views import MeDeviceViewSet, MePushConfigView, MePushSubscriptionViewSet
from templates_app.api.views import TemplateViewSet, VersionViewSet
from triggers.api.views import EventViewSet

_BAD_CREDENTIALS = OpenApiResponse(description="Wrong username or password, or an invalid or expired token.")


_LOCKED_OUT = OpenApiResponse(description="Too many logins from this address, or too many failed ones (Retry-After).")


@extend_schema_view(
    post=extend_schema(responses={200: TokenObtainPairSerializer, 401: _BAD_CREDENTIALS, 429: _LOCKED_OUT})
)
class TokenView(TokenObtainPairView):
    """A staff or service account's access and refresh tokens, for a username and password."""

    throttle_scope = "login"

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):  # set by django-axes on DRF's request, not Django's
                return lockout_response(request)
            raise


@extend_schema_view(
    post=extend_schema(responses={200: TokenRefreshSerializer, 401: _BAD_CREDENTIALS, 429: _LOCKED_OUT})
)
class TokenRefresh(TokenRefreshView):
    """A new access token for a refresh token."""

    throttle_scope = "login"


router = DefaultRouter()
router.include_root_view = False
router.register("notifications", NotificationViewSet, basename="notification")
router.register("recipients", RecipientViewSet, basename="recipient")
router.register("types", NotificationTypeViewSet, basename="notificationtype")
router.register("preferences", PreferenceViewSet, basename="preference")
router.register("consents", ConsentRecordViewSet, basename="consent")
router.register("suppressions", SuppressionViewSet, basename="suppression")
router.register("templates", TemplateViewSet, basename="template")
router.register("template-versions", VersionViewSet, basename="templateversion")
router.register("audit", AuditEntryViewSet, basename="auditentry")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhookendpoint")
router.register("event-subscriptions", EventSubscriptionViewSet, basename="eventsubscription")
router.register("calls", CallViewSet, basename="call")
router.register("events", EventViewSet, basename="event")
router.register("topics", TopicViewSet, basename="topic")
router.register("broadcasts", BroadcastViewSet, basename="broadcast")

# /api/v1/me/...: end users with their own token (see commhub.enduser)
me_router = DefaultRouter()
me_router.include_root_view = False
me_router.register("preferences", me.MePreferenceViewSet, basename="me-preference")
me_router.register("consents", me.MeConsentViewSet, basename="me-consent")
me_router.register("notifications", MeNotificationViewSet, basename="me-notification")
me_router.register("inbox", MeInboxViewSet, basename="me-inbox")
me_router.register("topics", MeTopicViewSet, basename="me-topic")
me_router.register("push/subscriptions", MePushSubscriptionViewSet, basename="me-push-subscription")
me_router.register("push/devices", MeDeviceViewSet, basename="me-push-device")
me_urlpatterns = [
    path("", me.MeView.as_view(), name="me"),
    path("preferences/effective/", MeEffectivePreferencesView.as_view(), name="me-preferences-effective"),
    path("consents/current/", me.MeConsentCurrentView.as_view(), name="me-consent-current"),
    path("export/", me.MeExportView.as_view(), name="me-export"),
    path("push/config/", MePushConfigView.as_view(), name="me-push-config"),
    *me_router.urls,
]

admin.site.site_header = "commhub back office"
admin.site.site_title = "commhub"
admin.site.index_title = "Notifications, templates, recipients and schedules"
admin.site.site_url = None  # commhub has no public site: no "View site" link to a 404

urlpatterns = [
    path("health", health_view, name="health"),
    path("health/live", live_view, name="health-live"),
    path("health/ready", ready_view, name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/analytics/dashboard/", dashboard_view, name="analytics-dashboard"),
    path("admin/", admin.site.urls),
    path("api/token/", TokenView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefresh.as_view(), name="token_refresh"),
    path("api/v1/me/inbox/stream/", inbox_stream, name="me-inbox-stream"),
    path("inbox/demo/", inbox_demo, name="inbox-demo"),
    path("api/v1/me/", include(me_urlpatterns)),
    # the documented form, without the trailing slash (the router serves .../preview/ too)
    path("api/v1/templates/<int:pk>/preview", TemplateViewSet.as_view({"post": "preview"})),
    path("api/v1/analytics/daily", analytics_views.DailyView.as_view(), name="analytics-daily"),
    path("api/v1/analytics/costs", analytics_views.CostView.as_view(), name="analytics-costs"),
    path("api/v1/analytics/queues", analytics_views.QueuesView.as_view(), name="analytics-queues"),
    path("api/v1/", include(router.urls)),
    path("unsubscribe/<str:token>/", unsubscribe_view, name="unsubscribe"),
    path("webhooks/twilio/inbound", twilio_inbound_sms, name="twilio-inbound-sms"),
    path("webhooks/twilio/status", twilio_status_callback, name="twilio-status-callback"),
    path("webhooks/twilio/call-status", twilio_call_status, name="twilio-call-status"),
    path("api/communication/", include(contract_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# ESP tracking (and inbound) webhooks: only with the shared secret, only for the ESPs commhub sends through, and
# only where the ESP's own signature can be checked (see esp_webhook_urlpatterns).
if esp_routes := esp_webhook_urlpatterns():
    urlpatterns.append(path("webhooks/anymail/", include((esp_routes, "anymail"))))
