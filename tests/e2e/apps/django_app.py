"""A small Django app for end-to-end tests, served by gunicorn under opentelemetry-instrument.

The URL conf and the WSGI ``application``; the settings are in ``django_settings``.
"""

from __future__ import annotations

import os
import time

from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]
from django.http import HttpRequest, HttpResponse, JsonResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]

BOOKS = {1: "dune", 2: "emma"}


def books(request: HttpRequest) -> HttpResponse:
    """List books."""
    return JsonResponse(sorted(BOOKS.values()), safe=False)


def book(request: HttpRequest, book_id: int) -> HttpResponse:
    """One book, 404 when unknown."""
    if book_id not in BOOKS:
        return JsonResponse({"error": "not found"}, status=404)
    return JsonResponse({"id": book_id, "title": BOOKS[book_id]})


def slow(request: HttpRequest) -> HttpResponse:
    """A request that takes a steady 5 ms."""
    time.sleep(0.005)
    return JsonResponse({"slept_ms": 5})


def health(request: HttpRequest) -> HttpResponse:
    """Readiness probe."""
    return HttpResponse("ok")


urlpatterns = [
    path("books", books),
    path("books/<int:book_id>", book),
    path("slow", slow),
    path("health", health),
]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
application = get_wsgi_application()
