from django.apps import AppConfig


class LbadminConfig(AppConfig):
    name = "lbadmin"
    verbose_name = "lbadmin"

    def ready(self) -> None:
        from . import datafiles, signals  # noqa: F401  (registers the permission check; connects login/logout auditing)
