"""The API's OpenAPI document is valid OpenAPI, and the real app keeps it: schemathesis
sends generated requests to every operation as each role (through the WSGI application,
the whole Django stack) and checks that nothing answers 5xx and that every answer has a
documented status, content type and shape."""
import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from api.main import api
from lbadmin import api_tokens
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from tests import factories
from tests.api_client import token_client

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The preview reads every enabled director's kernel table; a generated director could name
# any address, and tests talk to this machine only. tests/test_api_crud.py covers it.
NOT_GENERATED = {("GET", "/api/v1/reconcile/preview")}
# A few examples, the same ones each run (a CI run fails for a change, not for luck); to
# hunt for more, LBADMIN_API_EXAMPLES=50 draws that many new ones per operation.
HUNT = os.environ.get("LBADMIN_API_EXAMPLES")
EXAMPLES = int(HUNT or 5)


def test_the_openapi_document_is_valid_openapi(viewer):
    api_client = token_client(viewer)[0]
    served = api_client.get("/openapi.json").json()
    validate(served)
    assert len(served["paths"]) >= 20
    assert served["components"]["securitySchemes"]["ApiToken"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_uses_only_this_servers_scripts(client_for, viewer):
    page = client_for(viewer).get("/api/v1/docs")
    assert page.status_code == 200
    text = page.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in text and "cdn" not in text.lower()
    assert "script-src 'self'" in page["Content-Security-Policy"]


@pytest.fixture
def wsgi_app():
    """The project's WSGI application, minus what Django's test client also leaves out:
    closing the database connection after each request (it would close the test's)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world():
    vs = factories.virtual_server()
    factories.real_server(vs, admin_state="enabled")
    factories.real_server(vs, "CAS2", "192.0.2.22", admin_state="enabled")


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_operation_answers_as_documented_for_every_role(make_user, world, wsgi_app, role, empty_redis):
    _, secret = api_tokens.issue(make_user(role), "schemathesis")
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app, headers=headers)
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_GENERATED:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not HUNT,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        answers_as_documented()
        tried += 1
    assert tried == sum(len(methods) for methods in api.get_openapi_schema()["paths"].values()) - len(NOT_GENERATED)
