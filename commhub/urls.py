from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from commhub.health import health_view
from notifications.api.urls import contract_urlpatterns
from notifications.api.views import NotificationTypeViewSet, NotificationViewSet
from preferences.api.views import RecipientViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("notifications", NotificationViewSet, basename="notification")
router.register("recipients", RecipientViewSet, basename="recipient")
router.register("types", NotificationTypeViewSet, basename="notificationtype")

admin.site.site_header = "commhub back office"
admin.site.site_title = "commhub"
admin.site.index_title = "Notifications, templates, recipients and schedules"

urlpatterns = [
    path("health", health_view, name="health"),
    path("admin/", admin.site.urls),
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/v1/", include(router.urls)),
    path("api/communication/", include(contract_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
