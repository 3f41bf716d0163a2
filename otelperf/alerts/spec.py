"""Turn the ``alerts`` setting into sink objects.

The setting is either the ``OTELPERF_ALERTS`` string, e.g. ``log,webhook:https://hooks.example/x``,
or what was passed as ``configure(alerts=...)``: such a string, a sink, a callable, or a list
mixing them. Vendor sinks (``sentry``, ``datadog``, ``newrelic``) live in
``otelperf.exporters``; :data:`VENDOR_FACTORIES` imports each one only when its name is used,
so a missing extra fails with ``pip install 'otelperf[<vendor>]'`` and nothing is imported
otherwise. A caller may pass other factories instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping

from otelperf._errors import ConfigError, describe
from otelperf.alerts.alert import Alert
from otelperf.alerts.sink import AlertSink, redact_url
from otelperf.alerts.sinks import CallbackSink, LogSink
from otelperf.alerts.webhook import WebhookSink

__all__ = ["VENDOR_FACTORIES", "VENDOR_SINKS", "AlertSinkSpec", "parse_alert_sinks"]

VENDOR_SINKS = ("sentry", "datadog", "newrelic")
"""Names of the vendor alert sinks, in the order error messages list them."""


def _sentry() -> AlertSink:
    from otelperf.exporters.sentry import SentryAlertSink

    return SentryAlertSink()


def _datadog() -> AlertSink:
    from otelperf.exporters.datadog import DatadogAlertSink

    return DatadogAlertSink()


def _newrelic() -> AlertSink:
    from otelperf.exporters.newrelic import NewRelicAlertSink

    return NewRelicAlertSink()


VENDOR_FACTORIES: Mapping[str, Callable[[], AlertSink]] = {
    "sentry": _sentry,
    "datadog": _datadog,
    "newrelic": _newrelic,
}
"""The vendor sinks by name; each reads its vendor's variables (``SENTRY_DSN``, ``DD_API_KEY``,
``NEW_RELIC_LICENSE_KEY`` + ``NEW_RELIC_ACCOUNT_ID``) and raises ``ConfigError`` when its extra
or key is missing."""

AlertSinkSpec = str | AlertSink | Callable[[Alert], object]
"""One item of the ``alerts`` setting: a sink name/spec string, a sink, or a callable."""


def parse_alert_sinks(
    value: AlertSinkSpec | Iterable[AlertSinkSpec] | None,
    *,
    origin: str,
    vendors: Mapping[str, Callable[[], AlertSink]] | None = None,
) -> tuple[AlertSink, ...]:
    """Build the sinks the ``alerts`` setting asks for, in order.

    Strings are comma-separated lists of:

    * ``log`` — :class:`~otelperf.alerts.LogSink`;
    * ``webhook:<url>`` — :class:`~otelperf.alerts.WebhookSink` with its defaults (a comma in
      the URL must be written ``%2C``);
    * ``callback:<module>:<function>`` — imports ``<module>`` and wraps ``<function>`` (a dotted
      attribute path) in a :class:`~otelperf.alerts.CallbackSink`;
    * a vendor name — the factory of that name in ``vendors``.

    Names are case-insensitive; blanks around items and empty items are ignored. Sink objects
    are used as they are; other callables are wrapped in a ``CallbackSink``.

    Args:
        value: The setting; None or an empty string means no sinks.
        origin: Where the value came from, for error messages: ``OTELPERF_ALERTS`` or
            ``configure(alerts=...)``.
        vendors: Factories of vendor sinks by name; None means :data:`VENDOR_FACTORIES`. A
            factory may raise ``ConfigError`` (e.g. for a missing extra or key); the message
            is prefixed with the origin.

    Raises:
        ConfigError: An item is not understood. The message names the origin, the item (URLs
            without their query strings) and what is expected, e.g. ``OTELPERF_ALERTS='foo':
            expected log, callback, webhook:<url>, sentry, datadog or newrelic``.
    """
    factories = dict(VENDOR_FACTORIES if vendors is None else vendors)
    items: Iterable[object]
    if value is None:
        items = ()
    elif isinstance(value, str) or _is_single(value) or not isinstance(value, Iterable):
        items = (value,)
    else:
        items = value
    sinks: list[AlertSink] = []
    for item in items:
        if isinstance(item, str):
            for part in item.split(","):
                if part.strip():
                    sinks.append(_from_text(part.strip(), origin=origin, factories=factories))
        elif isinstance(item, AlertSink):
            sinks.append(item)
        elif callable(item):
            sinks.append(CallbackSink(item))
        else:
            raise ConfigError(f"{describe(origin, item)}: {_expected(factories)}")
    return tuple(sinks)


def _is_single(value: object) -> bool:
    return isinstance(value, AlertSink) or callable(value)


def _from_text(
    text: str, *, origin: str, factories: Mapping[str, Callable[[], AlertSink]]
) -> AlertSink:
    name, colon, rest = text.partition(":")
    name = name.strip().lower()
    if name == "webhook":
        url = rest.strip()
        if not url:
            raise ConfigError(
                f"{describe(origin, text)}: expected webhook:<url>, e.g. webhook:https://hooks.example/x"
            )
        try:
            return WebhookSink(url)
        except ConfigError as error:
            raise ConfigError(
                f"{describe(origin, 'webhook:' + redact_url(url))}: {error}"
            ) from None
    if name == "callback":
        return CallbackSink(_import_callable(rest.strip(), origin=origin))
    if name == "log" or name in factories or name in VENDOR_SINKS:
        if colon:
            raise ConfigError(
                f"{describe(origin, name + ':...')}: {name} takes nothing after a colon"
            )
        if name == "log":
            return LogSink()
        if name not in factories:
            raise ConfigError(
                f"{describe(origin, name)}: the {name} alert sink is not available; "
                f"it needs pip install 'otelperf[{name}]'"
            )
        try:
            return factories[name]()
        except ConfigError as error:
            raise ConfigError(f"{describe(origin, name)}: {error}") from None
    hint = " (a webhook is written webhook:<url>)" if name in ("http", "https") else ""
    # Only the name is shown: what follows a colon may be a URL with a secret in it.
    raise ConfigError(f"{describe(origin, name)}: {_expected(factories)}{hint}")


def _import_callable(target: str, *, origin: str) -> Callable[[Alert], object]:
    expected = "expected callback:<module>:<function>, e.g. callback:myapp.alerts:notify"
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path:
        raise ConfigError(f"{describe(origin, 'callback:' + target)}: {expected}")
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"{describe(origin, 'callback:' + target)}: cannot import {module_name!r} ({error})"
        ) from None
    for attr in attr_path.split("."):
        if not hasattr(found, attr):
            raise ConfigError(
                f"{describe(origin, 'callback:' + target)}: {module_name!r} has no {attr_path!r}"
            )
        found = getattr(found, attr)
    if not callable(found):
        raise ConfigError(
            f"{describe(origin, 'callback:' + target)}: {attr_path!r} is not callable"
        )
    return found


def _expected(factories: Mapping[str, object]) -> str:
    names = ["log", "callback", "webhook:<url>", *VENDOR_SINKS]
    names += sorted(n for n in factories if n not in names)
    return f"expected {', '.join(names[:-1])} or {names[-1]}"
