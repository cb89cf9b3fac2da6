import ipaddress
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db import models

from virtualservers.formats.validate import ipv4_mapped_problem


@lru_cache(maxsize=1 << 16)
def canonical(value: str) -> str:
    """The address as ipaddress writes it (the text unchanged when it is not one: validation
    reports it). Remembered: every row read converts its addresses here, 9,000 of them for
    a page that reads the whole table, and the same addresses come back on every read."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


class IPAddressField(models.GenericIPAddressField):
    """An IP address stored as Python's ipaddress writes it.

    Django keeps IPv4-mapped IPv6 in its own spelling ("::ffff:0.0.0.0") while
    ipaddress, the IPVS engine and the importers write "::ffff:0:0"; storing one
    spelling keeps comparisons, the audit log and exports in agreement.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return canonical(value)

    def from_db_value(self, value, expression, connection):
        # PostgreSQL stores an inet and prints it its own way ("::ffff:0.0.0.0" again).
        return self.get_prep_value(value) if value else value

    def to_python(self, value):
        # full_clean() writes this back onto the instance, so what is saved,
        # what the audit log snapshots and what is read back all agree.
        value = super().to_python(value)
        return self.get_prep_value(value) if value else value

    def validate(self, value, model_instance):
        # Every address of the configuration names a host: an IPv4-mapped one is refused
        # here, for every model, with the importers' words (formats/validate.py).
        super().validate(value, model_instance)
        problem = ipv4_mapped_problem(value) if value else None
        if problem:
            raise ValidationError(problem[:1].upper() + problem[1:] + ".", code="ipv4_mapped")
