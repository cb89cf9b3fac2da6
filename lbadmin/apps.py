from django.apps import AppConfig


class LbadminConfig(AppConfig):
    name = "lbadmin"
    verbose_name = "lbadmin"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects login/logout auditing)
