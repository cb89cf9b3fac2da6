from django.core.management.base import CommandError

from lbadmin.models import Director


def chosen_directors(name: str | None) -> list[Director]:
    if name:
        try:
            return [Director.objects.get(name=name)]
        except Director.DoesNotExist:
            known = ", ".join(Director.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no director named {name!r} (known: {known})") from None
    return list(Director.objects.filter(enabled=True))
