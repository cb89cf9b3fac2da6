from monitoring import views  # noqa: F401
