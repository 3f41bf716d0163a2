"""Fixtures for the alert tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.hook_server import HookServer


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    """A loopback webhook receiver, closed after the test."""
    server = HookServer()
    yield server
    server.close()
