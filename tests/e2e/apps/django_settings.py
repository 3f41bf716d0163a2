"""Settings of the Django end-to-end app (``DJANGO_SETTINGS_MODULE=django_settings``).

Kept apart from ``django_app``: the Django instrumentation reads the settings while it
instruments (before the app is imported) to insert its middleware; a settings module that
built the WSGI handler itself would be read before that, and no request would be traced.
"""

from __future__ import annotations

DEBUG = False
SECRET_KEY = "e2e-only-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_app"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
TIME_ZONE = "UTC"
