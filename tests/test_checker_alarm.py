"""The checker alarm's limit: three of the shortest check periods among active virtual
servers that have real servers (a period is the longer of interval and timeout; a virtual
server without a check counts with the defaults)."""
import time

import pytest

from lbadmin.redis_client import get_redis
from monitoring.checker_alarm import checker_alarm
from monitoring.health_counter import LAST_RESULT_KEY
from tests import factories
from virtualservers.models import HealthCheck

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_redis():
    get_redis().flushdb()


def served(name: str, address: str, interval: int, timeout: int, active: bool = True):
    vs = factories.virtual_server(name=name, address=address, port=80, persistent=0, pmask="", active=active)
    HealthCheck.objects.filter(virtual_server=vs).update(interval=interval, timeout=timeout)
    factories.real_server(vs, name=f"{name}1", address=address.replace("192.0.2", "10.0.0"))
    return vs


def last_result_ago(seconds: float) -> float:
    now = time.time()
    get_redis().set(LAST_RESULT_KEY, f"{now - seconds:.3f}")
    return now


def test_without_real_servers_there_is_nothing_to_alarm_about():
    factories.virtual_server(name="empty", address="192.0.2.9", active=True)
    assert checker_alarm() is None


def test_the_limit_is_three_of_the_shortest_period_of_active_served_checks():
    served("slow", "192.0.2.1", interval=30, timeout=5)
    served("fast", "192.0.2.2", interval=4, timeout=10)  # period 10: its timeout
    served("off", "192.0.2.3", interval=1, timeout=1, active=False)
    factories.virtual_server(name="idle", address="192.0.2.4", active=True)  # no real servers
    HealthCheck.objects.filter(virtual_server__name="idle").update(interval=1, timeout=1)
    assert checker_alarm(last_result_ago(29)) is None
    alarm = checker_alarm(last_result_ago(31))
    assert alarm is not None and "30 s" in alarm.message


def test_a_virtual_server_without_a_check_counts_with_the_default_period():
    vs = served("bare", "192.0.2.5", interval=60, timeout=60)
    HealthCheck.objects.filter(virtual_server=vs).delete()
    default = max(HealthCheck._meta.get_field("interval").default, HealthCheck._meta.get_field("timeout").default)
    assert checker_alarm(last_result_ago(3 * default - 1)) is None
    assert checker_alarm(last_result_ago(3 * default + 1)) is not None
