from django.apps import AppConfig


class VirtualServersConfig(AppConfig):
    name = "virtualservers"
    verbose_name = "Virtual servers"

    def ready(self):
        from . import receivers  # noqa: F401  (connects them)
