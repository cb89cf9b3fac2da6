"""Redis access for live state (not the broker): one connection pool per process, and
whether Redis answers at all (the banner on every page, and the readers that skip Redis
while it is known to be down instead of waiting on it once per panel)."""
import datetime
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

# The verdict of one probe holds this long in a process, so a page and its partials, or
# a hundred polls a second, cost one PING at most per interval.
VERDICT_SECONDS = 1.5
# A probe waits at most this long: a hung Redis must not hang every page with it.
PROBE_TIMEOUT = 0.3


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


@lru_cache(maxsize=4)
def _probe_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT,
                                retry=Retry(NoBackoff(), 0), decode_responses=True)


@dataclass(frozen=True)
class Outage:
    since: datetime.datetime  # the first failure seen by this process
    reason: str

    @property
    def words(self) -> str:
        return f"Redis unreachable since {self.local_time}"

    @property
    def local_time(self) -> str:
        return timezone.localtime(self.since).strftime("%H:%M:%S")


class _Verdict:
    """The latest verdict of this process, per Redis URL (tests switch URLs)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.url = ""
        self.checked = 0.0  # time.monotonic() of the latest probe
        self.outage: Outage | None = None


_verdict = _Verdict()


def note_failure(exc: BaseException) -> None:
    """A caller that failed to reach Redis says so: the banner shows at once, and the
    readers stop trying until the next probe says it is back."""
    with _verdict.lock:
        _adopt_url()
        if _verdict.outage is None:
            _verdict.outage = Outage(datetime.datetime.now(datetime.timezone.utc), _reason(exc))
        _verdict.checked = time.monotonic()


def redis_outage() -> Outage | None:
    """None while Redis answers; else since when (in this process) and why it does not.
    Never raises; costs one PING of at most PROBE_TIMEOUT per VERDICT_SECONDS."""
    with _verdict.lock:
        _adopt_url()
        if time.monotonic() - _verdict.checked < VERDICT_SECONDS:
            return _verdict.outage
    try:
        _probe_client(settings.REDIS_URL).ping()
    except Exception as exc:  # whatever the failure, the answer is "down, because ..."
        note_failure(exc)
    else:
        with _verdict.lock:
            _verdict.outage = None
            _verdict.checked = time.monotonic()
    return _verdict.outage


def _adopt_url() -> None:
    if _verdict.url != settings.REDIS_URL:
        _verdict.url, _verdict.checked, _verdict.outage = settings.REDIS_URL, 0.0, None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def redis_context(request) -> dict:
    """Template context: `redis_outage` for the banner of base.html, called only by a
    template that shows it (so a partial pays nothing) and only for a logged-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"redis_outage": redis_outage}
