"""URLs of import, export, backup, restore and templates."""
from django.urls import path

from . import io_views as views

urlpatterns: list = [
    path("", views.config_index, name="config_index"),
    path("export/lvs.cf", views.export_lvscf, name="config_export_lvscf"),
    path("export/keepalived.conf", views.export_keepalived, name="config_export_keepalived"),
    path("backup.json", views.backup_download, name="config_backup"),
    path("import/", views.config_import, name="config_import"),
    path("import/confirm/", views.config_import_confirm, name="config_import_confirm"),
    path("restore/", views.config_restore, name="config_restore"),
    path("restore/confirm/", views.config_restore_confirm, name="config_restore_confirm"),
    path("template/", views.config_template, name="config_template"),
    path("template/confirm/", views.config_template_confirm, name="config_template_confirm"),
]
