from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from lbadmin import account_views as account
from lbadmin import views as core

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="control"), name="home"),
    path("accounts/login/", account.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", core.password_change, name="password_change"),
    path("accounts/totp/", account.totp, name="totp"),
    path("accounts/totp/start/", account.totp_start, name="totp_start"),
    path("accounts/totp/confirm/", account.totp_confirm, name="totp_confirm"),
    path("accounts/totp/remove/", account.totp_remove, name="totp_remove"),
    path("settings/global/", core.global_settings, name="global_settings"),
    path("settings/redundancy/", core.redundancy, name="redundancy"),
    path("directors/", core.director_list, name="director_list"),
    path("directors/add/", core.director_edit, name="director_add"),
    path("directors/<int:pk>/", core.director_edit, name="director_edit"),
    path("directors/<int:pk>/delete/", core.director_delete, name="director_delete"),
    path("directors/<int:pk>/scan-key/", core.director_scan_key, name="director_scan_key"),
    path("directors/<int:pk>/pin-key/", core.director_pin_key, name="director_pin_key"),
    path("users/", core.user_list, name="user_list"),
    path("users/add/", core.user_add, name="user_add"),
    path("users/<int:pk>/", core.user_edit, name="user_edit"),
    path("users/<int:pk>/totp/remove/", account.user_totp_remove, name="user_totp_remove"),
    path("users/tokens/", core.api_token_create, name="api_token_create"),
    path("users/tokens/<int:pk>/revoke/", core.api_token_revoke, name="api_token_revoke"),
    path("users/lockouts/lift/", account.lockout_lift, name="lockout_lift"),
    path("audit/", core.audit_list, name="audit_list"),
    path("audit/export.csv", core.audit_export, name="audit_export"),
    path("audit/<int:pk>/", core.audit_detail, name="audit_detail"),
    # The apps bring their own URLs; this URLconf composes them by dotted path, as
    # settings.INSTALLED_APPS does, so the core imports no app (see .importlinter).
    path("", include("api.urls")),
    path("", include("monitoring.urls")),
    path("", include("virtualservers.urls")),
]

handler403 = "lbadmin.views.forbidden"
handler404 = "lbadmin.views.not_found"
handler500 = "lbadmin.views.server_error"
