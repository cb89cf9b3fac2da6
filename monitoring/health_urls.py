"""URLs of the health-check views (check now, try it, history)."""
urlpatterns: list = []
