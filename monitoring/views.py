from django.shortcuts import render
from django.views.decorators.http import require_GET

from lbadmin.models import Director
from lbadmin.roles import VIEWER, role_required

from .liveness import check_all


@require_GET
@role_required(VIEWER)
def control(request):
    context = {"processes": check_all(), "directors": Director.objects.all()}
    template = "monitoring/_processes.html" if request.htmx else "monitoring/control.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
