"""Per-process identity: every pre-forked worker reports its own ``process.pid``.

gunicorn (and ``multiprocessing`` with the fork start method) forks workers from a master in
which ``opentelemetry-instrument`` already built the SDK providers and their ``Resource``. The
SDK (since 1.44) refreshes a provider's resource in the child after ``os.fork()`` by re-running
the *process-dependent* resource detectors that ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` names:
``service_instance`` always runs, so each worker gets a new ``service.instance.id``; ``process``
runs only when the variable lists it, and without it no ``process.pid`` is reported at all. A
``process.pid`` merged in by hand (not by a detector) would not be refreshed either, and every
worker would report the master's pid.

So otelperf adds the ``process`` detector to the variable, in this process's environment, before
it builds its resource (:func:`process_resource`). The same variable is what the SDK reads again
in each forked child, so the child's ``process.pid`` (and ``process.parent_pid``) are its own.
A value the user set is respected as it is (listing detectors is an explicit choice).

Everything here runs once at configuration time; nothing is on the request path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue

__all__ = [
    "DETECTORS_ENV",
    "IDENTITY_KEYS",
    "PROCESS_DETECTOR",
    "ensure_process_detector",
    "process_resource",
    "stale_identity",
    "with_process_detector",
]

#: The standard variable listing the SDK's resource detectors (read again after each fork).
DETECTORS_ENV = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
#: The SDK's process detector: ``process.pid``, ``process.parent_pid``, executable, runtime.
PROCESS_DETECTOR = "process"
#: The resource attributes that must differ between two workers of one service.
IDENTITY_KEYS = ("process.pid", "service.instance.id")


def with_process_detector(value: str) -> str:
    """Return the detector list ``value`` with the ``process`` detector added when missing.

    Names are comma-separated, as the SDK reads them; blanks are dropped. ``*`` (every installed
    detector) already includes ``process``.

    >>> with_process_detector("")
    'process'
    >>> with_process_detector("azure_vm, ")
    'azure_vm,process'
    """
    names = [name.strip() for name in value.split(",") if name.strip()]
    if PROCESS_DETECTOR not in names and "*" not in names:
        names.append(PROCESS_DETECTOR)
    return ",".join(names)


def ensure_process_detector(environ: MutableMapping[str, str]) -> bool:
    """Add the ``process`` detector to ``environ`` unless the user chose the detectors.

    Args:
        environ: The environment the SDK reads (``os.environ`` in production; tests pass a
            dict). Only :data:`DETECTORS_ENV` is written, and only when it is unset or blank.

    Returns:
        True when ``environ`` now lists the ``process`` detector (added here or by the user).
    """
    current = environ.get(DETECTORS_ENV, "")
    if not current.strip():
        environ[DETECTORS_ENV] = PROCESS_DETECTOR
        return True
    return with_process_detector(current) == ",".join(
        name.strip() for name in current.split(",") if name.strip()
    )


def process_resource(
    attributes: Mapping[str, AttributeValue],
    environ: MutableMapping[str, str] | None = None,
) -> Resource:
    """``Resource.create(attributes)`` carrying this process's ``process.pid``.

    Adds the ``process`` detector to ``environ`` first (see :func:`ensure_process_detector`), so
    the SDK's after-fork refresh gives each forked worker its own pid as well.

    Args:
        attributes: Attributes to set (e.g. ``service.name``). They win over the same keys in
            ``OTEL_RESOURCE_ATTRIBUTES`` and over ``OTEL_SERVICE_NAME``, which fill in the
            rest, as in ``Resource.create`` (the detectors' result is merged with
            ``attributes`` last).
        environ: Where the SDK reads its variables; ``None`` means ``os.environ`` (the SDK
            itself reads only ``os.environ``, so a dict is for tests of the pure part).
    """
    ensure_process_detector(os.environ if environ is None else environ)
    return Resource.create(dict(attributes))


def stale_identity(attributes: Mapping[str, object], *, pid: int | None = None) -> bool:
    """Whether ``attributes`` (a resource's) claim another process's ``process.pid``.

    A resource without ``process.pid`` is not stale (it claims nothing). ``pid`` defaults to
    ``os.getpid()``.
    """
    claimed = attributes.get("process.pid")
    return claimed is not None and claimed != (os.getpid() if pid is None else pid)
