"""Optimistic locking on every edit form: a form shown before someone else saved the same
object is refused, with their values next to the user's; nothing is overwritten; sending
it again (now up to date) saves."""
import re

import pytest
from django.urls import reverse

from tests import factories
from tests.test_validation import GOOD_VS
from virtualservers.models import VirtualServer


def version_in(page: str) -> str:
    return re.search(r'name="_version" value="([0-9a-f]*)"', page).group(1)


@pytest.mark.django_db
def test_the_older_of_two_edits_is_refused_and_shows_the_newer_values(client_for, make_user):
    alice, bob = client_for(make_user("admin", "alice")), client_for(make_user("admin", "bob"))
    vs = factories.virtual_server()
    url = reverse("virtual_edit", args=[vs.pk])
    alice_version, bob_version = version_in(alice.get(url).content.decode()), version_in(bob.get(url).content.decode())
    assert alice_version == bob_version != ""

    saved = alice.post(url, {**GOOD_VS, "port": "444", "_version": alice_version})
    assert saved.status_code == 302
    stale = bob.post(url, {**GOOD_VS, "port": "443", "scheduler": "wlc", "_version": bob_version})
    page = stale.content.decode()
    assert stale.status_code == 200 and page.count("someone else saved this while you were editing") == 1
    assert "newer-values" in page and ">444<" in page
    vs.refresh_from_db()
    assert vs.port == 444 and vs.scheduler == "rr"  # alice's edit stands, bob's changed nothing

    again = bob.post(url, {**GOOD_VS, "port": "443", "scheduler": "wlc", "_version": version_in(page)})
    assert again.status_code == 302
    assert VirtualServer.objects.get(pk=vs.pk).scheduler == "wlc"


def newer_rows(page: str) -> dict[str, tuple[str, str]]:
    table = re.search(r'id="newer-values">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return {label: (saved, mine) for label, saved, mine in
            re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)}


@pytest.mark.django_db
def test_the_newer_values_compare_the_directors_by_name_not_as_text(client_for, make_user):
    alice, bob = client_for(make_user("admin", "alice")), client_for(make_user("admin", "bob"))
    vs = factories.virtual_server()
    lb1, lb2 = factories.director("lb1"), factories.director("lb2")
    url = reverse("virtual_edit", args=[vs.pk])
    bob_version = version_in(bob.get(url).content.decode())
    alice.post(url, {**GOOD_VS, "port": "444", "_version": version_in(alice.get(url).content.decode())})
    # Bob left the directors as they were (none): no row for them, only the port.
    stale = bob.post(url, {**GOOD_VS, "_version": bob_version}).content.decode()
    assert newer_rows(stale) == {"Application port": ("444", "443")}

    alice.post(url, {**GOOD_VS, "port": "444", "directors": [str(lb1.pk)], "_version": version_in(stale)})
    stale = bob.post(url, {**GOOD_VS, "port": "444", "directors": [str(lb2.pk), str(lb1.pk)],
                           "_version": version_in(stale)}).content.decode()
    assert newer_rows(stale) == {"Directors": ("lb1", "lb1, lb2")}


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["global_settings", "redundancy"])
def test_the_settings_pages_carry_a_version_too(client_for, admin_user, page):
    body = client_for(admin_user).get(reverse(page)).content.decode()
    assert re.search(r'name="_version" value="[0-9a-f]{16}"', body)
