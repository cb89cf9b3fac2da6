"""Hostile text typed into any form is shown escaped wherever it appears, and the
Content-Security-Policy would stop an inline script even if it were not."""
import pytest
from django import forms
from django.urls import reverse

from lbadmin.models import AuditEntry, ClusterSettings, RedundancyGroup, RedundancySettings
from tests import factories

PAYLOAD = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
RAW_MARKERS = ("<script>alert(1)</script>", "<img src=x onerror")


@pytest.fixture
def world(db, admin_user):
    ClusterSettings.load().save()
    RedundancySettings.load().save()
    vs = factories.virtual_server()
    rs = factories.real_server(vs)
    director = factories.director()
    group = RedundancyGroup.objects.create(name="edge", virtual_router_id=60, interface="eth0")
    return {"vs": vs, "rs": rs, "director": director, "group": group, "user": admin_user}


def edit_pages(world) -> list[str]:
    vs, rs = world["vs"], world["rs"]
    return [reverse("virtual_edit", args=[vs.pk]), reverse("real_edit", args=[vs.pk, rs.pk]),
            reverse("check_edit", args=[vs.pk]), reverse("global_settings"), reverse("redundancy"),
            reverse("director_edit", args=[world["director"].pk]),
            reverse("redundancy_group_edit", args=[world["group"].pk])]


def pages_to_read(world) -> list[str]:
    vs = world["vs"]
    latest = AuditEntry.objects.order_by("-id").first()
    return [*edit_pages(world), reverse("virtual_list"), reverse("real_list", args=[vs.pk]),
            reverse("real_prep", args=[vs.pk]), reverse("control"), reverse("redundancy_groups"),
            reverse("director_list"), reverse("audit_list"), reverse("host_list"),
            reverse("host_detail", args=[world["rs"].address]),
            *([reverse("audit_detail", args=[latest.pk])] if latest else [])]


def read_body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def posted_values(form: forms.BaseForm) -> dict:
    """What a browser posts for this form as it stands."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = str(value)
    return data


def text_fields(form: forms.BaseForm) -> list[str]:
    return [name for name, field in form.fields.items()
            if isinstance(field, forms.CharField) and isinstance(field.widget, (forms.TextInput, forms.Textarea))
            and not isinstance(field.widget, forms.PasswordInput)]


@pytest.mark.django_db
def test_every_text_field_is_shown_escaped_on_every_page(client_for, world):
    client = client_for(world["user"])
    saved_somewhere = 0
    for url in edit_pages(world):
        page = client.get(url)
        form = page.context["form"]
        for name in text_fields(form):
            response = client.post(url, {**posted_values(form), name: PAYLOAD})
            assert response.status_code < 500, (url, name)
            saved_somewhere += response.status_code == 302
            for read in pages_to_read(world):
                body = read_body(client.get(read))
                for marker in RAW_MARKERS:
                    assert marker not in body, f"{PAYLOAD!r} in {name} of {url} shows raw on {read}"
    assert saved_somewhere >= 3, "too few fields took the payload for this test to mean anything"


@pytest.mark.django_db
def test_the_policy_allows_no_inline_script(client_for, world):
    response = client_for(world["user"]).get(reverse("control"))
    policy = response["Content-Security-Policy"]
    script = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'self'" in script and "unsafe-inline" not in script and "unsafe-eval" not in script
    assert "frame-ancestors 'none'" in policy
    body = response.content.decode()
    assert " onsubmit=" not in body and " onclick=" not in body


@pytest.mark.django_db
def test_no_template_carries_an_inline_script_or_handler():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text()
        assert "<script>" not in text and "<script " not in text.replace('<script src=', ''), path
        for handler in (" onsubmit=", " onclick=", " onchange=", " onload=", " onerror=", " hx-on"):
            assert handler not in text, f"{path}: {handler.strip()}"


@pytest.mark.django_db
def test_the_csv_export_does_not_hand_a_formula_to_a_spreadsheet(client_for, world):
    for name in ("=HYPERLINK(\"http://evil.example/\",\"click\")", "+1+1", "-2", "@SUM(A1)", "\tx"):
        AuditEntry.objects.create(action="login_failed", username=name)
    body = b"".join(client_for(world["user"]).get(reverse("audit_export")).streaming_content).decode()
    for line in body.splitlines()[1:6]:
        user = line.split(",")[1]
        assert not user.lstrip('"').startswith(("=", "+", "-", "@", "\t")), line
    assert "'=HYPERLINK" in body
    # Raw markup in the CSV is text to a spreadsheet, never a page: a download the browser
    # must not sniff into HTML.
    response = client_for(world["user"]).get(reverse("audit_export"))
    assert response["Content-Type"].startswith("text/csv") and response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
