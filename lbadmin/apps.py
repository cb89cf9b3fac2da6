from django.apps import AppConfig


class LbadminConfig(AppConfig):
    name = "lbadmin"
    verbose_name = "lbadmin"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects login/logout auditing)
        from . import datafiles, middleware  # noqa: F401  (the data files check; the session touch at login)
