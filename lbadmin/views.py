"""Pages of the core app: settings, directors, users, audit log, accounts."""
import csv

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import transaction
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from virtualservers import ipvs  # pure: the SSH host-key scan

from . import accounts, api_tokens, audit, audit_query
from .csv_cells import safe_row
from .editing import delete_with_audit, edit_page
from .forms import (ApiTokenForm, ClusterSettingsForm, DirectorForm, RedundancySettingsForm,
                    UserCreateForm, UserEditForm)
from .models import ApiToken, AuditEntry, ClusterSettings, Director, RedundancySettings, SingletonModel
from .roles import ADMIN, VIEWER, check_role, role_of, role_required, set_role
from .signals import announce_applied_settings


def _settings_page(request: HttpRequest, model: type[SingletonModel], form_class: type[ModelForm],
                   template: str, object_type: str) -> HttpResponse:
    instance = model.load()
    if request.method == "POST":
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=form_class, instance=instance, template=template,
                     object_type=object_type, success_url=request.path, on_saved=announce_applied_settings)


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def global_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request, ClusterSettings, ClusterSettingsForm, "lbadmin/global_settings.html", "GlobalSettings")


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def redundancy(request: HttpRequest) -> HttpResponse:
    return _settings_page(request, RedundancySettings, RedundancySettingsForm, "lbadmin/redundancy.html", "Redundancy")


# Directors ---------------------------------------------------------------

@require_GET
@role_required(VIEWER)
def director_list(request: HttpRequest) -> HttpResponse:
    return render(request, "lbadmin/director_list.html", {"directors": Director.objects.select_related("group")})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def director_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    director = get_object_or_404(Director, pk=pk) if pk else Director()
    runs = director.apply_runs.all()[:20] if pk else []
    return edit_page(request, form_class=DirectorForm, instance=director, template="lbadmin/director_form.html",
                     context={"runs": runs}, success_url=reverse("director_list"), on_saved=announce_applied_settings)


@require_POST
@role_required(ADMIN)
def director_delete(request: HttpRequest, pk: int) -> HttpResponse:
    director = get_object_or_404(Director, pk=pk)
    delete_with_audit(director)
    messages.success(request, f"Deleted director {director}.")
    return redirect("director_list")


# Users -------------------------------------------------------------------

@require_GET
@role_required(ADMIN)
def user_list(request: HttpRequest) -> HttpResponse:
    return _users_page(request, ApiTokenForm())


def _users_page(request: HttpRequest, token_form: ApiTokenForm, new_token: str = "") -> HttpResponse:
    users = User.objects.order_by("username").prefetch_related("groups")
    tokens = ApiToken.objects.filter(revoked_at__isnull=True).select_related("user").order_by("user__username", "name")
    return render(request, "lbadmin/user_list.html", {"users": [(u, role_of(u)) for u in users],
                                                      "lockouts": accounts.current_lockouts(), "tokens": tokens,
                                                      "token_form": token_form, "new_token": new_token})


@require_POST
@role_required(ADMIN)
def api_token_create(request: HttpRequest) -> HttpResponse:
    """The token is in this response's page only, never in a redirect, a message or the
    session: shown once, then only its hash exists."""
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _users_page(request, form)  # 200 with the errors, as every form here
    row, token = api_tokens.issue(form.cleaned_data["user"], form.cleaned_data["name"])
    response = _users_page(request, ApiTokenForm(), new_token=token)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@role_required(ADMIN)
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    if api_tokens.revoke(row):
        messages.success(request, f"Revoked the API token {row} of {row.user}.")
    return redirect(reverse("user_list") + "#api-tokens")


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def user_add(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            set_role(user, form.cleaned_data["role"])
            audit.record("create", user, after=accounts.user_snapshot(user), object_type="User")
        messages.success(request, f"Created user {user}.")
        return redirect("user_list")
    return render(request, "lbadmin/user_form.html", {"form": form, "object": None})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    before = accounts.user_snapshot(user)
    form = UserEditForm(request.POST or None, instance=user, initial={"role": role_of(user)})
    if request.method == "POST" and form.is_valid():
        if user == request.user and (form.cleaned_data["role"] != ADMIN or not form.cleaned_data["is_active"]):
            form.add_error("role", "You cannot remove your own admin role or deactivate yourself.")
        else:
            with transaction.atomic():
                form.save()
                set_role(user, form.cleaned_data["role"])
                audit.record("update", user, before=before, after=accounts.user_snapshot(user), object_type="User")
            messages.success(request, f"Saved user {user}.")
            return redirect("user_list")
    return render(request, "lbadmin/user_form.html", {"form": form, "object": user, "has_totp": accounts.has_totp(user)})


# Accounts ----------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            accounts.record_password_change(request.user)
        update_session_auth_hash(request, form.user)
        messages.success(request, "Your password was changed.")
        return redirect("control")
    return render(request, "lbadmin/password_change.html", {"form": form})


# Audit log ---------------------------------------------------------------

@require_GET
@role_required(VIEWER)
def audit_list(request: HttpRequest) -> HttpResponse:
    form, entries = audit_query.filtered(request.GET or None, request.user)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    page.object_list = list(audit_query.shown(page.object_list, request.user))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "lbadmin/audit_list.html", {"form": form, "page": page, "query": query.urlencode()})


@require_GET
@role_required(VIEWER)
def audit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = next(audit_query.shown([get_object_or_404(AuditEntry, pk=pk)], request.user))
    return render(request, "lbadmin/audit_detail.html", {"entry": entry, "changes": entry.differences()})


class _Echo:
    def write(self, value):
        return value


@require_GET
@role_required(VIEWER)
def audit_export(request: HttpRequest) -> HttpResponse:
    form, entries = audit_query.filtered(request.GET or None, request.user)
    writer = csv.writer(_Echo())
    header = ["time", "user", "source_ip", "request_id", "action", "object_type", "object_id", "object", "changes", "message"]

    def rows():
        yield writer.writerow(header)
        for e in audit_query.shown(entries.iterator(), request.user):
            changes = "; ".join(f"{k}: {b!r} -> {a!r}" for k, b, a in e.changes())
            yield writer.writerow(safe_row([e.time.isoformat(), e.username, e.source_ip or "", e.request_id, e.action,
                                            e.object_type, e.object_id, e.object_repr, changes, e.message]))

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="lbadmin-audit.csv"'
    return response


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Internal error. The request id is in the X-Request-ID header.", status=500, content_type="text/plain")


# Host keys -----------------------------------------------------------------

@require_POST
@role_required(ADMIN)
def director_scan_key(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the key the director offers now, next to the pinned one. Pinning
    is a separate, explicit POST: nothing is trusted by looking."""
    director = get_object_or_404(Director, pk=pk)
    context = {"director": director}
    try:
        offered = ipvs.scan_host_key(director.address, director.ssh_port, timeout=10)
    except ipvs.IpvsError as exc:
        context["error"] = str(exc)
    else:
        context.update(offered=offered, offered_fingerprint=ipvs.fingerprint(offered),
                       matches=bool(director.host_key) and ipvs.fingerprint(director.host_key) == ipvs.fingerprint(offered))
    return render(request, "lbadmin/_host_key_scan.html", context)


@require_POST
@role_required(ADMIN)
def director_pin_key(request: HttpRequest, pk: int) -> HttpResponse:
    director = get_object_or_404(Director, pk=pk)
    before = audit.snapshot(director)
    director.host_key = request.POST.get("host_key", "").strip()
    try:
        director.full_clean()
    except Exception as exc:  # ValidationError: shown, nothing saved
        messages.error(request, f"Not pinned: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
        return redirect("director_edit", pk=pk)
    with transaction.atomic():
        director.save(update_fields=["host_key"])
        audit.record("pin_host_key", director, before=before, after=audit.snapshot(director),
                     message=f"pinned {director.host_key_fingerprint}")
        announce_applied_settings(director, before)
    messages.success(request, f"Pinned host key {director.host_key_fingerprint} for {director}.")
    return redirect("director_edit", pk=pk)
