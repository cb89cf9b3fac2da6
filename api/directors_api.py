"""Directors: read, add, change, delete, through the DIRECTORS page's form (admin, as the
page; reading them needs the viewer role, as the list does)."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from ninja import Router, Status

from lbadmin.editing import delete_with_audit
from lbadmin.forms import DirectorForm
from lbadmin.models import Director
from lbadmin.roles import ADMIN, VIEWER, check_role
from lbadmin.signals import announce_applied_settings

from .formdata import FormResource
from .schemas import WRITE, responses

router = Router(tags=["directors"])

director = FormResource(
    DirectorForm, "Director", extra_out={"status": str, "status_reason": str},
    extra_values=lambda d: {"status": d.status, "status_reason": d.status_reason})


@router.get("/directors", response=responses(list[director.Out]), summary="List directors (viewer)")
def list_directors(request):
    check_role(request.user, VIEWER)
    return [director.out(d) for d in Director.objects.order_by("name")]


@router.post("/directors", response=responses(director.Out, WRITE, 201), summary="Add a director (admin)")
def add_director(request, payload: director.In):
    check_role(request.user, ADMIN)
    return Status(201, director.out(director.save(Director(), payload, on_saved=announce_applied_settings)))


@router.get("/directors/{int:pk}", response=responses(director.Out), summary="One director (viewer)")
def get_director(request, pk: int):
    check_role(request.user, VIEWER)
    return director.out(get_object_or_404(Director, pk=pk))


@router.patch("/directors/{int:pk}", response=responses(director.Out, WRITE), summary="Change a director (admin)")
def change_director(request, pk: int, payload: director.In):
    check_role(request.user, ADMIN)
    saved = director.save(get_object_or_404(Director, pk=pk), payload, on_saved=announce_applied_settings)
    return director.out(saved)


@router.delete("/directors/{int:pk}", response=responses(None, WRITE, 204), summary="Delete a director (admin)")
def delete_director(request, pk: int):
    check_role(request.user, ADMIN)
    delete_with_audit(get_object_or_404(Director, pk=pk))
    return Status(204, None)
