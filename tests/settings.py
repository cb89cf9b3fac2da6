"""The tests' settings: the product's (lbadmin/settings.py), but for two things.

A second database alias, `postgresql`, on which every database test runs again (below).

Django's test client and live server speak plain HTTP where gunicorn speaks TLS, so they
are not sent to https://. Everything else (Secure cookies, HSTS, ALLOWED_HOSTS) stays as
shipped; tests/test_https.py checks the shipped settings themselves, with
`manage.py check --deploy` and with gunicorn serving TLS.
"""
from lbadmin.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False

# The second database of every database test (tests/databases.py): a throwaway cluster
# whose port is known only once it runs, filled in then.
DATABASES["postgresql"] = {  # noqa: F405
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "lbadmin",
    "USER": "postgres",
    "HOST": "127.0.0.1",
    "PORT": "",
    "CONN_MAX_AGE": 0,
}
