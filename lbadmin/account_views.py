"""Pages about one's own account and logging in: the login form (password, then a
TOTP code when enrolled), the lockout page, TOTP enrolment; and lifting a lockout."""
import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login

from . import accounts
from .forms import LoginForm, TotpCodeForm
from .roles import ADMIN, role_required


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        if form.otp_device is not None:
            otp_login(self.request, form.otp_device)
        return response


login = login_not_required(LoginView.as_view())


def locked_out(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    """django-axes' lockout response (settings.AXES_LOCKOUT_CALLABLE): what happened,
    when it ends, who can lift it."""
    handler = AxesProxyHandler.get_implementation()
    times = [qs.aggregate(t=Max("attempt_time"))["t"] for qs in handler.get_user_attempts(request, credentials)]
    last = max((t for t in times if t is not None), default=request.axes_attempt_time)
    context = {"ends": last + settings.AXES_COOLOFF_TIME, "ip_address": request.axes_ip_address,
               "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
               "limit": settings.AXES_FAILURE_LIMIT, "ip_limit": settings.LBADMIN_LOGIN_IP_FAILURE_LIMIT}
    return render(request, "registration/locked_out.html", context, status=429)


# TOTP -------------------------------------------------------------------------------

def _qr_svg(uri: str) -> str:
    return qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")


def _enrol_page(request: HttpRequest, device, form: TotpCodeForm) -> HttpResponse:
    # Shown only in answer to the enrolling user's own POST: never on a GET.
    uri = device.config_url
    return render(request, "lbadmin/totp.html", {"pending": True, "uri": uri, "secret": accounts.totp_secret(device),
                                                 "qr": _qr_svg(uri), "form": form})


@require_GET
def totp(request: HttpRequest) -> HttpResponse:
    return render(request, "lbadmin/totp.html", {"enrolled": accounts.has_totp(request.user),
                                                 "required": settings.LBADMIN_REQUIRE_TOTP_FOR_ADMINS})


@require_POST
def totp_start(request: HttpRequest) -> HttpResponse:
    return _enrol_page(request, accounts.start_totp(request.user), TotpCodeForm())


@require_POST
def totp_confirm(request: HttpRequest) -> HttpResponse:
    device = accounts.pending_totp(request.user)
    if device is None:
        messages.error(request, "Start the enrolment first.")
        return redirect("totp")
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        with transaction.atomic():
            confirmed = accounts.confirm_totp(request.user, device, form.cleaned_data["otp_token"].strip())
        if confirmed:
            otp_login(request, device)
            messages.success(request, "Authenticator enrolled: logins now ask for its code.")
            return redirect("totp")
        form.add_error("otp_token", "That code does not match: check the app's clock and try the next code.")
    return _enrol_page(request, device, form)


@require_POST
def totp_remove(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        removed = accounts.remove_totp(request.user)
    messages.success(request, "Authenticator removed." if removed else "No authenticator was enrolled.")
    return redirect("totp")


@require_POST
@role_required(ADMIN)
def user_totp_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """For a user who lost the phone: they log in with the password alone and enrol again."""
    user = get_object_or_404(accounts.User, pk=pk)
    with transaction.atomic():
        removed = accounts.remove_totp(user)
    messages.success(request, f"Removed the authenticator of {user}." if removed else f"{user} had no authenticator.")
    return redirect("user_edit", pk=pk)


# Lockouts ---------------------------------------------------------------------------

@require_POST
@role_required(ADMIN)
def lockout_lift(request: HttpRequest) -> HttpResponse:
    ip_address = request.POST.get("ip_address", "").strip()
    with transaction.atomic():
        failures = accounts.lift_lockout(ip_address) if ip_address else 0
    if failures:
        messages.success(request, f"Lifted the lockout of {ip_address} ({failures} failed logins forgotten).")
    else:
        messages.info(request, "No failed logins were counted for that address.")
    return redirect("user_list")
