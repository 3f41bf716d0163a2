"""Entry points for ``opentelemetry-instrument`` (zero-code use).

* ``--distro otelperf`` (or ``OTEL_PYTHON_DISTRO=otelperf``) loads :class:`OtelperfDistro`, which
  only sets defaults, as upstream's distro does: it selects our configurator unless the user chose
  one with ``OTEL_PYTHON_CONFIGURATOR``.
* :class:`OtelperfConfigurator` then runs the same code path as ``otelperf.configure()``.
* :func:`post_instrument` runs after all instrumentors, whichever distro was chosen. If otelperf
  is not configured by then and another distro or configurator installed a tracer provider, it
  attaches otelperf to that provider when it takes span processors (an SDK one, or a wrapper of
  one), so ``--distro <vendor>`` plus an installed otelperf works; for any other provider one
  WARNING says otelperf is not active and why. Opt out with ``OTEL_SDK_DISABLED=true`` or by
  listing ``otelperf`` (or ``*``, as upstream reads it: every instrumentation) in
  ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, the standard switch for installed instrumentation.

None of these lets an exception out: a bad ``OTELPERF_*`` value logs one ERROR line naming the
setting, and the application starts without otelperf.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace

# mypy cannot see BaseDistro through the package (it reports the module as empty); it exists
# in every opentelemetry-instrumentation release this project supports.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otelperf import _configure
from otelperf._safety import logger

__all__ = ["OtelperfConfigurator", "OtelperfDistro", "post_instrument"]

DISTRO_NAME = "otelperf"
#: In ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``: every instrumentation, otelperf's hook included.
DISABLE_ALL = "*"


class OtelperfDistro(BaseDistro):  # type: ignore[misc]  # BaseDistro is Any to mypy
    """The ``otelperf`` distro: makes ``opentelemetry-instrument`` use otelperf's configurator."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", DISTRO_NAME)


class OtelperfConfigurator:
    """The ``otelperf`` configurator: ``otelperf.configure()`` from the environment."""

    def configure(self, **kwargs: Any) -> None:
        """Configure otelperf; never raises (see the module docstring)."""
        _safe_configure()


def post_instrument(**kwargs: Any) -> None:
    """Attach otelperf to a provider another distro installed (see the module docstring)."""
    # Read as opentelemetry-instrumentation reads it (auto_instrumentation/_load.py): split on
    # commas, strip blanks, "*" stands for every instrumentation.
    disabled = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
    if {DISTRO_NAME, DISABLE_ALL} & {part.strip() for part in disabled}:
        return
    if _configure.current() is None and not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    ):
        _safe_configure()


def _safe_configure() -> None:
    try:
        _configure.configure_from_environment()
    except Exception:  # noqa: BLE001 - the application must start whatever happens here
        logger.exception("otelperf disabled: unexpected error while configuring")
