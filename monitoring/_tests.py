import tests.services  # noqa: F401
