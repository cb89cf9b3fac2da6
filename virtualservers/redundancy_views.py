"""REDUNDANCY: the redundancy groups, each director's keepalived.conf preview and APPLY.
The Piranha lvs.cf values (RedundancySettings) keep their own page in the core app."""
from django.contrib import messages
from django.db import transaction
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin import audit
from lbadmin.editing import edit_page
from lbadmin.forms import RedundancyGroupForm
from lbadmin.http import partial
from lbadmin.models import RedundancyGroup
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required

from .failover_rehearsal import RehearsalRefused
from .redundancy import DEFAULTS, group_rows, rehearsals_of
from .tasks import configuration_changed, queue_rehearsal, request_reconciles

HTMX_STOP_POLLING = 286


@require_GET
@role_required(VIEWER)
def groups(request: HttpRequest) -> HttpResponse:
    return render(request, "virtualservers/redundancy.html", {"groups": group_rows(), "defaults": DEFAULTS})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def group_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    group = get_object_or_404(RedundancyGroup, pk=pk) if pk else RedundancyGroup()
    return edit_page(request, form_class=RedundancyGroupForm, instance=group, object_type="RedundancyGroup",
                     template="virtualservers/redundancy_group_form.html", context={"defaults": DEFAULTS},
                     on_saved=lambda o, b: configuration_changed("redundancy group saved"),
                     success_url=reverse("redundancy_groups"))


@require_POST
@role_required(ADMIN)
def group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(RedundancyGroup, pk=pk)
    names = ", ".join(group.members.values_list("name", flat=True))
    if names:
        messages.error(request, f"Not deleted: directors {names} are in group {group}. Move them to another "
                                "group (or none) on DIRECTORS first.")
        return redirect("redundancy_groups")
    try:
        with transaction.atomic():
            audit.record("delete", group, before=audit.snapshot(group), object_type="RedundancyGroup")
            group.delete()
    except ProtectedError:  # a director joined it meanwhile
        messages.error(request, f"Not deleted: a director joined group {group} meanwhile.")
    else:
        messages.success(request, f"Deleted redundancy group {group}.")
    return redirect("redundancy_groups")


@require_POST
@role_required(OPERATOR)
def group_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a reconcile of the group's enabled directors: it installs their keepalived.conf
    after their IPVS table. Audited like the toggles, then queued once the entry is saved."""
    group = get_object_or_404(RedundancyGroup, pk=pk)
    members = list(group.members.filter(enabled=True).values_list("pk", "name"))
    names = ", ".join(name for _, name in members) or "no enabled director"
    with transaction.atomic():
        audit.record("apply", group, object_type="RedundancyGroup", message=f"reconcile queued for {names}")
        request_reconciles([director_id for director_id, _ in members], f"apply group {group.name}")
    if not getattr(request, "apply_deferred", False):  # else the outbox said when it will be
        messages.success(request, f"Reconcile queued for {names}.")
    return redirect("redundancy_groups")


@require_POST
@role_required(ADMIN)
def group_rehearse(request: HttpRequest, pk: int) -> HttpResponse:
    """Fail the group over on purpose (a worker runs it); the page follows its progress."""
    group = get_object_or_404(RedundancyGroup, pk=pk)
    try:
        with transaction.atomic():
            queue_rehearsal(group, user=request.user, request_id=getattr(request, "request_id", ""))
    except RehearsalRefused as refused:
        notice = f"Not rehearsed: {refused}"
    else:
        notice = ""
    if request.htmx:  # the history swaps in, polling while the rehearsal runs
        return partial(request, "virtualservers/_rehearsals.html",
                       {"rehearsals": rehearsals_of([group])[group.pk], "notice": notice})
    if notice:
        messages.error(request, notice)
    else:
        messages.success(request, f"Failover rehearsal of {group} queued: keepalived is stopped on its MASTER, "
                                  "then started again; the result appears below.")
    return redirect(f"{reverse('redundancy_groups')}#rehearsals-{group.pk}")


@require_GET
@role_required(VIEWER)
def group_rehearsals(request: HttpRequest, pk: int) -> HttpResponse:
    """The rehearsal history of one group; polled by HTMX while one is in flight, and told
    to stop polling (286) once none is."""
    group = get_object_or_404(RedundancyGroup, pk=pk)
    rehearsals = rehearsals_of([group])[group.pk]
    response = partial(request, "virtualservers/_rehearsals.html", {"rehearsals": rehearsals})
    if request.htmx and not rehearsals.in_flight:
        response.status_code = HTMX_STOP_POLLING
    return response
