"""Health data for templates that other apps' views render (the real-server row, the
CONTROL/MONITORING page): read from Redis at render time, so those views need not know."""
from django import template

from monitoring import health

register = template.Library()


@register.simple_tag
def last_result(rs):
    """The latest check result of a real server (any source), or None."""
    return health.last_results([rs.pk]).get(rs.pk)


@register.simple_tag
def health_alarm():
    return health.checker_alarm()
