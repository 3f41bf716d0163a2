"""The one exception type otelperf raises at configuration time."""

from __future__ import annotations

__all__ = ["ConfigError", "describe"]


class ConfigError(ValueError):
    """A setting has a value otelperf cannot use.

    The message always names where the value came from (a ``configure()`` keyword or an
    environment variable), the value itself, and what is expected, e.g.
    ``OTELPERF_SAMPLE_RATIO='1.5': expected a number between 0 and 1``.
    """


def describe(origin: str, value: object) -> str:
    """Render "where it came from = what it was" for error messages.

    ``configure(sample_ratio=...)`` becomes ``configure(sample_ratio=1.5)``; an environment
    variable becomes ``OTELPERF_SAMPLE_RATIO='1.5'``.
    """
    if origin.endswith("=...)"):
        return f"{origin[:-4]}{value!r})"
    return f"{origin}={value!r}"
