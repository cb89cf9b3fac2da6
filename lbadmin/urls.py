from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from lbadmin import views as core
from monitoring import views as monitoring
from virtualservers import views as vs

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="control"), name="home"),
    path("accounts/login/", login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True)), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", core.password_change, name="password_change"),
    path("control/", monitoring.control, name="control"),
    path("control/live/", monitoring.live, name="control_live"),
    path("control/applies/", vs.applies, name="control_applies"),
    path("settings/global/", core.global_settings, name="global_settings"),
    path("settings/redundancy/", core.redundancy, name="redundancy"),
    path("virtual/", vs.virtual_list, name="virtual_list"),
    path("virtual/add/", vs.virtual_add, name="virtual_add"),
    path("virtual/<int:pk>/", vs.virtual_edit, name="virtual_edit"),
    path("virtual/<int:pk>/delete/", vs.virtual_delete, name="virtual_delete"),
    path("virtual/<int:pk>/toggle/", vs.virtual_toggle, name="virtual_toggle"),
    path("virtual/<int:pk>/real/", vs.real_list, name="real_list"),
    path("virtual/<int:pk>/real/add/", vs.real_edit, name="real_add"),
    path("virtual/<int:pk>/real/<int:rs_pk>/", vs.real_edit, name="real_edit"),
    path("virtual/<int:pk>/real/<int:rs_pk>/delete/", vs.real_delete, name="real_delete"),
    path("virtual/<int:pk>/real/<int:rs_pk>/toggle/", vs.real_toggle, name="real_toggle"),
    path("virtual/<int:pk>/real/<int:rs_pk>/drain/", vs.real_drain, name="real_drain"),
    path("virtual/<int:pk>/check/", vs.check_edit, name="check_edit"),
    path("directors/", core.director_list, name="director_list"),
    path("directors/add/", core.director_edit, name="director_add"),
    path("directors/<int:pk>/", core.director_edit, name="director_edit"),
    path("directors/<int:pk>/delete/", core.director_delete, name="director_delete"),
    path("directors/<int:pk>/scan-key/", core.director_scan_key, name="director_scan_key"),
    path("directors/<int:pk>/pin-key/", core.director_pin_key, name="director_pin_key"),
    path("users/", core.user_list, name="user_list"),
    path("users/add/", core.user_add, name="user_add"),
    path("users/<int:pk>/", core.user_edit, name="user_edit"),
    path("audit/", core.audit_list, name="audit_list"),
    path("audit/export.csv", core.audit_export, name="audit_export"),
    path("audit/<int:pk>/", core.audit_detail, name="audit_detail"),
    path("health/", include("monitoring.health_urls")),
    path("config/", include("virtualservers.io_urls")),
    path("django-admin/", admin.site.urls),
]

handler403 = "lbadmin.views.forbidden"
handler404 = "lbadmin.views.not_found"
handler500 = "lbadmin.views.server_error"
