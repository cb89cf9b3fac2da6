"""REAL SERVERS (hosts): every address with all the services it serves, one host's page,
and the host-wide and bulk actions (the work is in hosts.py)."""
from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lbadmin.http import posted_ids
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required

from . import hosts as host_rules
from .apply_status import apply_status
from .blast_radius import confirmed, consequences
from .models import RealServer
from .views import PAGE_SIZE, filter_text


class AddHostForm(forms.Form):
    """'Add this host to these services': one name, port and weight for all of them."""

    services = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Services")
    name = forms.RegexField(regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", max_length=64)
    port = forms.IntegerField(min_value=1, max_value=65535, required=False, help_text="Blank: each service's port")
    weight = forms.IntegerField(min_value=0, initial=1)
    active = forms.BooleanField(required=False, initial=True, label="Activate now")

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {str(vs.pk): vs for vs in candidates}
        self.fields["services"].choices = [(pk, f"{vs.name} ({vs.protocol.upper()} {vs.endpoint})")
                                           for pk, vs in self.candidates.items()]


def _address(address: str) -> str:
    try:
        return host_rules.canonical(address)
    except ValueError:
        raise Http404("not an IP address") from None


CANDIDATES_SHOWN = 50  # services offered at once by "add this host to more services"


def _host_page(request: HttpRequest, address: str, form: AddHostForm | None = None) -> HttpResponse:
    found = host_rules.hosts(address)
    if not found:
        raise Http404("no real server has this address")
    host = found[0]
    candidates = host_rules.candidate_services(address)
    text = filter_text(request)
    offered = [vs for vs in candidates if not text or text.lower() in vs.name.lower() or text in vs.address]
    if form is None:  # a page, not a refused POST: a filtered handful of 1,000 checkboxes
        form = AddHostForm(candidates=offered[:CANDIDATES_SHOWN], initial={"name": host.names[0]})
    return render(request, "virtualservers/hosts/detail.html", {
        "host": host, "form": form, "candidates": candidates, "offered": len(offered), "query": text,
        "shown": min(len(offered), CANDIDATES_SHOWN), **apply_status()})


@require_GET
@role_required(VIEWER)
def host_list(request: HttpRequest) -> HttpResponse:
    """A page of hosts, filtered by part of an address, a real server's or a service's name."""
    text = filter_text(request)
    page = Paginator(host_rules.addresses(text), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "virtualservers/hosts/list.html", {
        "hosts": host_rules.hosts(among=list(page)), "page_obj": page, "query": text,
        "filter_label": "address, real server or service name", **apply_status()})


@require_GET
@role_required(VIEWER)
def host_detail(request: HttpRequest, address: str) -> HttpResponse:
    return _host_page(request, _address(address))


@require_POST
@role_required(OPERATOR)
def host_action(request: HttpRequest, address: str) -> HttpResponse:
    address = _address(address)
    action = request.POST.get("action", "")
    back = redirect("host_list") if request.POST.get("back") == "list" else redirect("host_detail", address=address)
    if action not in host_rules.HOST_ACTIONS:
        messages.error(request, "Choose activate, deactivate or drain.")
        return back
    harm = consequences(action, RealServer.objects.filter(address=address))
    if harm and not confirmed(request.POST):
        # Nothing changed: what it would do to each service, and the same action confirmed.
        return render(request, "virtualservers/hosts/confirm.html",
                      {"address": address, "action": action, "harm": harm, "back": request.POST.get("back", "")},
                      status=409)
    touched = host_rules.act_on_host(address, action)
    if touched:
        services = ", ".join(rs.virtual_server.name for rs in touched)
        messages.success(request, f"{address} {host_rules.HOST_ACTIONS[action]} on {len(touched)} "
                                  f"service{'s' if len(touched) != 1 else ''}: {services}.")
    else:
        messages.info(request, f"Nothing to do: no service of {address} can be {host_rules.HOST_ACTIONS[action]}.")
    return back


@require_POST
@role_required(ADMIN)
def host_add(request: HttpRequest, address: str) -> HttpResponse:
    address = _address(address)
    if not RealServer.objects.filter(address=address).exists():
        raise Http404("no real server has this address")
    form = AddHostForm(request.POST, candidates=host_rules.candidate_services(address))
    if form.is_valid():
        chosen = [form.candidates[pk] for pk in form.cleaned_data["services"]]
        try:
            host_rules.add_host(address, form.cleaned_data["name"], chosen, port=form.cleaned_data["port"],
                                weight=form.cleaned_data["weight"], active=form.cleaned_data["active"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{address} added to {', '.join(vs.name for vs in chosen)}.")
            return redirect("host_detail", address=address)
    return _host_page(request, address, form)


@require_POST
@role_required(OPERATOR)
def virtual_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    pks = posted_ids(request.POST.getlist("selected"))
    if action not in host_rules.BULK_ACTIONS or not pks:
        messages.error(request, "Select virtual servers, then ACTIVATE or DEACTIVATE.")
        return redirect("virtual_list")
    touched = host_rules.bulk_virtual(pks, action)
    if touched:
        messages.success(request, f"{action.capitalize()}d {len(touched)} virtual server"
                                  f"{'s' if len(touched) != 1 else ''}: {', '.join(vs.name for vs in touched)}.")
    else:
        messages.info(request, f"Nothing to do: the selected virtual servers were already {action}d.")
    return redirect("virtual_list")
