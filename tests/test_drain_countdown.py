"""A draining server's row counts what still ties clients to it (connections and the
persistence templates of `ipvsadm -L -n -c`, read by the live poll only while something
drains), says when the kernel no longer holds it, and the poll ends a drain that is over
at once rather than at the next sweep."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from lbadmin.models import Director
from monitoring import live_poller
from tests import factories
from virtualservers import drain_facts, ipvs
from virtualservers.reconcile import forget_executor

pytestmark = pytest.mark.django_db

VIP = "192.0.2.50"
LIST = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.50:443 rr persistent 14400
  -> 192.0.2.21:443               Route   0      1          0
  -> 192.0.2.22:443               Route   1      0          0
"""
CONNECTIONS = """\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:58  ESTABLISHED 198.51.100.7:53012 192.0.2.50:443     192.0.2.21:443
TCP 239:58 ASSURED     198.51.100.7:0     192.0.2.50:443     192.0.2.21:443
TCP 239:40 ASSURED     198.51.100.8:0     192.0.2.50:443     192.0.2.21:443
TCP 239:40 ASSURED     198.51.100.9:0     192.0.2.50:443     192.0.2.22:443
"""
STATS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
"""
RATE = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
"""


class FakeDirector:
    def __init__(self, listing=LIST, connections=CONNECTIONS):
        self.listing, self.connections, self.asked = listing, connections, []

    def list_text(self, kind="list"):
        self.asked.append(kind)
        if kind == "connections":
            return self.connections
        return {"list": self.listing, "stats": STATS, "rate": RATE}[kind]

    def list_texts(self, kinds):  # the poll's one round trip
        return {kind: self.list_text(kind) for kind in kinds}

    def close(self):
        pass


@pytest.fixture
def lab(monkeypatch, redis_url):
    director = factories.director(name="lb1", status=Director.Status.OK)  # seen before: no "reachable again"
    vs = factories.virtual_server(active=True)
    busy = factories.real_server(vs, "CAS1", "192.0.2.21", admin_state="enabled")
    factories.real_server(vs, "CAS2", "192.0.2.22", admin_state="enabled")
    fake = FakeDirector()
    monkeypatch.setattr(live_poller, "executor_for", lambda d: fake)
    queued = []
    monkeypatch.setattr(live_poller, "queue_reconcile", lambda pk, trigger: queued.append(trigger))
    yield director, vs, busy, fake, queued
    forget_executor(director.pk)


def drain(rs, minutes_ago=0):
    rs.set_admin_state("drain", now=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    rs.save()


def test_the_poll_reads_no_connection_table_while_nothing_drains(lab, django_capture_on_commit_callbacks):
    director, vs, busy, fake, queued = lab
    live_poller.poll_director(director)
    assert "connections" not in fake.asked


def test_a_draining_row_shows_its_connections_and_templates(lab, client_for, viewer, django_capture_on_commit_callbacks):
    director, vs, busy, fake, queued = lab
    drain(busy)
    with django_capture_on_commit_callbacks(execute=True):
        live_poller.poll_director(director)
    assert fake.asked.count("connections") == 1
    assert queued == []  # one connection left and time to go: the drain goes on
    response = client_for(viewer).get(reverse("real_row", args=[vs.pk, busy.pk]), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200  # still draining: the row keeps polling
    assert "1 connection, 2 persistence templates left" in page
    assert 'hx-trigger="every 2s"' in page


def test_a_drain_whose_last_connection_closed_is_ended_by_the_poll(lab, django_capture_on_commit_callbacks):
    director, vs, busy, fake, queued = lab
    drain(busy)
    fake.connections = CONNECTIONS.replace("ESTABLISHED", "TIME_WAIT  ")
    with django_capture_on_commit_callbacks(execute=True):
        live_poller.poll_director(director)
    assert queued == ["drain ended"]


def test_a_drain_past_its_deadline_is_ended_by_the_poll_whatever_its_connections(lab, django_capture_on_commit_callbacks):
    director, vs, busy, fake, queued = lab
    drain(busy, minutes_ago=6)  # drain_timeout 300 s
    with django_capture_on_commit_callbacks(execute=True):
        live_poller.poll_director(director)
    assert queued == ["drain ended"]


def test_once_out_of_the_table_the_row_says_so_and_stops_polling(lab, client_for, viewer, django_capture_on_commit_callbacks):
    director, vs, busy, fake, queued = lab
    drain(busy, minutes_ago=6)
    fake.listing = LIST.replace("  -> 192.0.2.21:443               Route   0      1          0\n", "")
    with django_capture_on_commit_callbacks(execute=True):
        live_poller.poll_director(director)
    assert queued == []
    response = client_for(viewer).get(reverse("real_row", args=[vs.pk, busy.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    page = response.content.decode()
    assert "removed from the kernel table: drain over" in page and "hx-trigger" not in page


def test_a_reading_from_an_earlier_drain_is_not_shown(lab):
    director, vs, busy, fake, queued = lab
    drain(busy)
    ref = ipvs.DestRef(ipvs.ServiceKey("tcp", VIP, 443), "192.0.2.21", 443)
    started = busy.drain_started_at.timestamp()
    drain_facts.record(director.pk, {busy.pk: (busy, ref)}, {ref: ipvs.DrainCount(5, 5)}, ipvs.Table(), now=started - 60)
    assert drain_facts.drain_facts([busy.pk], since={busy.pk: started}) == {}


def test_the_row_view_needs_a_login_and_only_reads(lab, client_for, viewer):
    director, vs, busy, fake, queued = lab
    url = reverse("real_row", args=[vs.pk, busy.pk])
    assert client_for(None).get(url).status_code == 302
    assert client_for(viewer).post(url).status_code == 405
