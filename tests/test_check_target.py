"""keepalived's connect_ip / connect_port: a real server can be checked at
another address or port than the one traffic goes to."""
import asyncio

import pytest

from monitoring.checks import run_check
from monitoring.check_targets import TargetLoader, target_for
from tests import factories


@pytest.mark.django_db
def test_the_check_goes_to_the_check_address_and_port_when_set():
    vs = factories.virtual_server(active=True)
    plain = factories.real_server(vs, name="plain", address="192.0.2.21")
    moved = factories.real_server(vs, name="moved", address="192.0.2.22", check_address="127.0.0.1", check_port=9)
    assert (target_for(plain).spec.host, target_for(plain).spec.port) == ("192.0.2.21", 443)
    assert (target_for(moved).spec.host, target_for(moved).spec.port) == ("127.0.0.1", 9)
    targets, _ = TargetLoader().load()
    assert (targets[moved.pk].spec.host, targets[moved.pk].spec.port) == ("127.0.0.1", 9)
    assert targets[plain.pk].spec.host == "192.0.2.21"


@pytest.mark.django_db
def test_a_check_port_on_loopback_is_really_probed():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    vs = factories.virtual_server(active=True)
    rs = factories.real_server(vs, check_address="127.0.0.1", check_port=port)
    spec = target_for(rs).spec
    up = asyncio.run(run_check(spec))
    listener.close()
    down = asyncio.run(run_check(spec))
    assert up.ok and not down.ok and "refused" in down.reason
