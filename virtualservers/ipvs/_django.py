import django.db  # noqa: F401
