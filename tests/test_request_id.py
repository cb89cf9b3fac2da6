"""X-Request-ID from the client is kept only when it is 1-64 characters of [A-Za-z0-9._-]:
it goes into the audit log and the logs, so anything else is replaced by a generated one."""
import re

import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.django_db
@pytest.mark.parametrize("offered", ["req-abc", "A.b_c-9", "x" * 64])
def test_it_keeps_a_request_id_that_matches_the_pattern(client, offered):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=offered)

    assert response["X-Request-ID"] == offered


@pytest.mark.django_db
@pytest.mark.parametrize("offered", [
    "", "x" * 65, "has space", "semi;colon", "<script>", "a/b", "ünicode", "tab\tin", "quote\"d", "a,b",
], ids=["empty", "65-chars", "space", "semicolon", "markup", "slash", "non-ascii", "tab", "quote", "comma"])
def test_it_replaces_any_other_request_id_with_a_generated_one(client, offered):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=offered)

    assert GENERATED.fullmatch(response["X-Request-ID"])


@pytest.mark.django_db
def test_it_generates_one_when_none_is_offered_and_a_new_one_each_time(client):
    first, second = (client.get(reverse("login"))["X-Request-ID"] for _ in range(2))

    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


@pytest.mark.django_db
def test_the_audit_log_stores_the_generated_id_not_the_offered_one(client_for, admin_user):
    form = {"name": "web", "address": "192.0.2.50", "vip_nmask": "255.255.255.255", "device": "seth0:1",
            "protocol": "tcp", "port": "443", "scheduler": "rr", "persistent": "14400", "pmask": "255.255.255.255",
            "forwarding": "direct", "load_monitor": "none", "drain_timeout": "300"}
    offered = "x\r\nForged-Line: 1"
    response = client_for(admin_user).post(reverse("virtual_add"), form, HTTP_X_REQUEST_ID=offered)

    assert response.status_code == 302

    entry = AuditEntry.objects.filter(action="create").latest("id")
    assert entry.request_id == response["X-Request-ID"]
    assert GENERATED.fullmatch(entry.request_id)
