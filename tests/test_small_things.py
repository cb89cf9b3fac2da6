"""Small things users notice: a favicon on every page, messages that are sentences and
never run together, and audit entries that show a table's difference line by line."""
import re

import pytest
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.test import RequestFactory
from django.urls import reverse

from lbadmin import audit
from lbadmin.messages import SentenceStorage
from lbadmin.textdiff import line_difference
from tests import factories
from virtualservers.models import ApplyRun

KERNEL = ["-A -t 10.20.0.100:80 -s rr", "-a -t 10.20.0.100:80 -r 10.10.0.11:80 -g -w 1"]
DESIRED = ["-A -t 10.20.0.100:80 -s rr", "-a -t 10.20.0.100:80 -r 10.10.0.11:80 -g -w 1",
           "-a -t 10.20.0.100:80 -r 10.10.0.12:80 -g -w 1"]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.django_db
def test_every_page_names_the_favicon_even_the_login_page(client_for, viewer):
    assert finders.find("favicon.svg")
    for client, url in ((client_for(None), reverse("login")), (client_for(viewer), reverse("control")),
                        (client_for(viewer), reverse("audit_list"))):
        page = client.get(url).content.decode()
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page, url


def test_a_message_is_stored_as_a_sentence():
    request = RequestFactory().get("/")
    request.session = {}
    request._messages = storage = SentenceStorage(request)
    messages.success(request, "Already in sync")
    messages.info(request, "director reachable again")
    messages.error(request, "Nothing was saved: correct the fields marked below.")
    assert [str(m) for m in storage] == ["Already in sync.", "Director reachable again.",
                                         "Nothing was saved: correct the fields marked below."]


@pytest.mark.django_db
def test_a_views_messages_reach_the_page_as_separate_sentences(client_for, admin_user):
    vs = factories.virtual_server()
    rs = factories.real_server(vs)
    client = client_for(admin_user)
    client.post(reverse("real_delete", args=[vs.pk, rs.pk]))
    page = client.get(reverse("real_list", args=[vs.pk])).content.decode()
    assert re.search(r'<ul class="messages"><li class="success">Deleted real server CAS1\.</li></ul>', page)


@pytest.mark.django_db
def test_the_last_apply_reads_as_a_sentence(client_for, viewer):
    director = factories.director()
    ApplyRun.objects.create(director=director, trigger="director reachable again", result=ApplyRun.Result.NOOP,
                            duration_ms=5)
    text = text_of(client_for(viewer).get(reverse("control_applies")).content.decode())
    assert "Already in sync director" not in text
    assert re.search(r"Last apply, at \d\d:\d\d:\d\d for “director reachable again”: Already in sync in 5 ms\.", text)


def test_a_line_difference_marks_removed_added_and_kept_lines():
    assert line_difference(["a", "b", "c"], ["a", "c", "d"]) == [(" ", "a"), ("-", "b"), (" ", "c"), ("+", "d")]
    assert line_difference("x\ny\n", None) == [("-", "x"), ("-", "y")]


@pytest.mark.django_db
@pytest.mark.parametrize("keys", [("table", "table"), ("kernel", "desired")], ids=["now", "before-2027"])
def test_a_drift_entry_shows_the_tables_as_lines_removed_and_added(client_for, viewer, keys):
    director = factories.director()
    entry = audit.record("drift", director, actor="reconciler", before={keys[0]: KERNEL},
                         after={keys[1]: DESIRED}, message="live table differs")
    client = client_for(viewer)
    page = client.get(reverse("audit_detail", args=[entry.pk])).content.decode()
    assert '<span class="added">+ -a -t 10.20.0.100:80 -r 10.10.0.12:80 -g -w 1</span>' in page
    assert '<span class="kept">  -A -t 10.20.0.100:80 -s rr</span>' in page
    assert "0 lines removed, 1 added" in page
    assert "[&#x27;" not in page  # no Python list printed on one line
    listing = text_of(client.get(reverse("audit_list")).content.decode())
    assert "table : 0 lines removed, 1 added" in listing  # (tags make the space)


@pytest.mark.django_db
def test_a_keepalived_change_of_several_lines_shows_its_lines(client_for, viewer):
    director = factories.director()
    entry = audit.record("update", director, before={"vrrp_applied": "vrrp_instance VI_4 {\n priority 100\n}\n"},
                         after={"vrrp_applied": "vrrp_instance VI_4 {\n priority 150\n}\n"})
    page = client_for(viewer).get(reverse("audit_detail", args=[entry.pk])).content.decode()
    assert '<span class="removed">-  priority 100</span>' in page
    assert '<span class="added">+  priority 150</span>' in page
