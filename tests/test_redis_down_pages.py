"""With Redis unreachable (a real connection refused, not a mock), the pages that show
live data still answer from the database and say what they cannot know: never a 500."""
import pytest
from django.urls import reverse

from lab.services import free_port
from lbadmin.redis_client import get_redis
from tests import factories


@pytest.fixture
def redis_gone(settings, redis_url):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    get_redis.cache_clear()
    yield
    settings.REDIS_URL = redis_url
    get_redis.cache_clear()


@pytest.mark.django_db
def test_control_and_virtual_servers_render_and_say_redis_is_unreachable(client_for, viewer, redis_gone):
    factories.director()
    factories.virtual_server()
    client = client_for(viewer)
    control = client.get(reverse("control"))
    assert control.status_code == 200
    page = control.content.decode()
    assert "live data unavailable: Redis unreachable" in page and "queued applies cannot be seen" in page
    listing = client.get(reverse("virtual_list"))
    assert listing.status_code == 200 and "Redis unreachable" in listing.content.decode()
    live = client.get(reverse("control_live"), HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and "Redis unreachable" in live.content.decode()
