from django.apps import AppConfig


class VirtualServersConfig(AppConfig):
    name = "virtualservers"
    verbose_name = "Virtual servers"
