"""URLs of import, export, backup, restore and templates."""
urlpatterns: list = []
