"""The one exception type otelperf raises at configuration time."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A setting has a value otelperf cannot use.

    The message always names where the value came from (a ``configure()`` keyword or an
    environment variable), the value itself, and what is expected, e.g.
    ``OTELPERF_SAMPLE_RATIO='1.5': expected a number between 0 and 1``.
    """
