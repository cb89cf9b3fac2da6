"""URLs of the virtual-server app: VIRTUAL SERVERS and its tabs, REAL SERVERS (hosts), the Applies panel,
REDUNDANCY (groups, keepalived.conf preview, apply) and CONFIGURATION (io_urls)."""
from django.urls import include, path

from . import host_views as hosts
from . import redundancy_views as redundancy
from . import views as vs

urlpatterns = [
    path("control/applies/", vs.applies, name="control_applies"),
    path("virtual/", vs.virtual_list, name="virtual_list"),
    path("virtual/add/", vs.virtual_add, name="virtual_add"),
    path("virtual/bulk/", hosts.virtual_bulk, name="virtual_bulk"),
    path("virtual/<int:pk>/", vs.virtual_edit, name="virtual_edit"),
    path("virtual/<int:pk>/delete/", vs.virtual_delete, name="virtual_delete"),
    path("virtual/<int:pk>/toggle/", vs.virtual_toggle, name="virtual_toggle"),
    path("virtual/<int:pk>/real/", vs.real_list, name="real_list"),
    path("virtual/<int:pk>/real/add/", vs.real_edit, name="real_add"),
    path("virtual/<int:pk>/real/<int:rs_pk>/", vs.real_edit, name="real_edit"),
    path("virtual/<int:pk>/real/<int:rs_pk>/row/", vs.real_row, name="real_row"),
    path("virtual/<int:pk>/real/<int:rs_pk>/delete/", vs.real_delete, name="real_delete"),
    path("virtual/<int:pk>/real/<int:rs_pk>/toggle/", vs.real_toggle, name="real_toggle"),
    path("virtual/<int:pk>/real/<int:rs_pk>/drain/", vs.real_drain, name="real_drain"),
    path("virtual/<int:pk>/prepare/", vs.real_prep, name="real_prep"),
    path("virtual/<int:pk>/check/", vs.check_edit, name="check_edit"),
    path("hosts/", hosts.host_list, name="host_list"),
    path("hosts/<str:address>/", hosts.host_detail, name="host_detail"),
    path("hosts/<str:address>/action/", hosts.host_action, name="host_action"),
    path("hosts/<str:address>/add/", hosts.host_add, name="host_add"),
    path("redundancy/", redundancy.groups, name="redundancy_groups"),
    path("redundancy/add/", redundancy.group_edit, name="redundancy_group_add"),
    path("redundancy/<int:pk>/", redundancy.group_edit, name="redundancy_group_edit"),
    path("redundancy/<int:pk>/delete/", redundancy.group_delete, name="redundancy_group_delete"),
    path("redundancy/<int:pk>/apply/", redundancy.group_apply, name="redundancy_group_apply"),
    path("redundancy/<int:pk>/rehearse/", redundancy.group_rehearse, name="redundancy_group_rehearse"),
    path("redundancy/<int:pk>/rehearsals/", redundancy.group_rehearsals, name="redundancy_group_rehearsals"),
    path("config/", include("virtualservers.io_urls")),
]
