from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from otelperf._errors import ConfigError
from otelperf.alerts import (
    Alert,
    AlertSink,
    CallbackSink,
    LogSink,
    WebhookSink,
    parse_alert_sinks,
)
from tests.alerts import helpers
from tests.alerts.helpers import RecordingSink, make_alert

ENV = "OTELPERF_ALERTS"
EXPECTED = "expected log, callback, webhook:<url>, sentry, datadog or newrelic"


def _kinds(sinks: tuple[AlertSink, ...]) -> list[str]:
    return [type(sink).__name__ for sink in sinks]


class TestParseAlertSinks:
    @pytest.mark.parametrize(
        ("value", "kinds"),
        [
            (None, []),
            ("", []),
            (" , ", []),
            ("log", ["LogSink"]),
            (" LOG ", ["LogSink"]),
            ("log,webhook:https://hooks.example/x?token=abc", ["LogSink", "WebhookSink"]),
            ("webhook:http://127.0.0.1:9/x, log", ["WebhookSink", "LogSink"]),
            (
                ["log", "webhook:https://a.example/1,webhook:https://b.example/2"],
                ["LogSink", "WebhookSink", "WebhookSink"],
            ),
            ("callback:tests.alerts.helpers:record", ["CallbackSink"]),
            ("callback:tests.alerts.helpers:RecordingSink.send", ["CallbackSink"]),
        ],
    )
    def test_strings_become_sinks_in_order(self, value: Any, kinds: list[str]) -> None:
        """Comma-separated names (any case, blanks ignored) become sinks in the given order."""
        assert _kinds(parse_alert_sinks(value, origin=ENV)) == kinds

    def test_objects_and_callables_are_accepted(self) -> None:
        """Sink objects pass through unchanged; plain callables are wrapped in a CallbackSink."""
        sink = RecordingSink()

        def notify(alert: Alert) -> None:
            pass

        parsed = parse_alert_sinks(["log", sink, notify], origin="configure(alerts=...)")
        assert _kinds(parsed) == ["LogSink", "RecordingSink", "CallbackSink"]
        assert parsed[1] is sink
        assert parse_alert_sinks(sink, origin="configure(alerts=...)") == (sink,)
        assert _kinds(parse_alert_sinks(notify, origin="configure(alerts=...)")) == ["CallbackSink"]

    def test_callback_spec_calls_the_named_function(self) -> None:
        """callback:<module>:<function> imports the function and calls it for each alert."""
        [sink] = parse_alert_sinks("callback:tests.alerts.helpers:record", origin=ENV)
        alert = make_alert()
        recorded = helpers.RECORDED
        recorded.clear()
        sink.send(alert)
        assert recorded == [alert]

    def test_webhook_spec_keeps_the_full_url_for_sending(self) -> None:
        """The webhook sink gets the URL with its query string but shows it redacted."""
        [sink] = parse_alert_sinks("webhook:https://hooks.example/x?token=abc", origin=ENV)
        assert isinstance(sink, WebhookSink)
        assert repr(sink) == "WebhookSink('https://hooks.example/x')"

    def test_vendor_names_use_the_given_factories(self) -> None:
        """sentry/datadog/newrelic (and extra registered names) come from the caller's registry."""
        made = RecordingSink("sentry")
        extra = RecordingSink("pagerduty")
        vendors = {"sentry": lambda: made, "pagerduty": lambda: extra}
        parsed = parse_alert_sinks("Sentry,log,pagerduty", origin=ENV, vendors=vendors)
        assert parsed[0] is made
        assert isinstance(parsed[1], LogSink)
        assert parsed[2] is extra

    def test_callback_sink_type_is_used_for_callables(self) -> None:
        """The wrapper for callables is the public CallbackSink."""
        [sink] = parse_alert_sinks(print, origin="configure(alerts=...)")
        assert isinstance(sink, CallbackSink)


class TestParseAlertSinksErrors:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("foo", f"OTELPERF_ALERTS='foo': {EXPECTED}"),
            ("log,foo:bar?token=SECRET", f"OTELPERF_ALERTS='foo': {EXPECTED}"),
            (
                "https://hooks.example/x?token=SECRET",
                f"OTELPERF_ALERTS='https': {EXPECTED} (a webhook is written webhook:<url>)",
            ),
            (
                "webhook:",
                "OTELPERF_ALERTS='webhook:': expected webhook:<url>, "
                "e.g. webhook:https://hooks.example/x",
            ),
            (
                "webhook:http://hooks.example/x?token=SECRET",
                "OTELPERF_ALERTS='webhook:http://hooks.example/x': webhook URL "
                "'http://hooks.example/x': expected https:// (plain http only to loopback hosts, "
                "or with allow_http=True)",
            ),
            (
                "webhook:ftp://user:SECRET@hooks.example/x",
                "OTELPERF_ALERTS='webhook:ftp://hooks.example/x': webhook URL "
                "'ftp://hooks.example/x': expected an https:// URL such as "
                "https://hooks.example/otelperf",
            ),
            ("log:x", "OTELPERF_ALERTS='log:...': log takes nothing after a colon"),
            ("sentry:SECRET", "OTELPERF_ALERTS='sentry:...': sentry takes nothing after a colon"),
            (
                "datadog",
                "OTELPERF_ALERTS='datadog': alert sink 'datadog' needs a Datadog API key: set "
                "DD_API_KEY (or pass api_key=)",
            ),
            (
                "callback",
                "OTELPERF_ALERTS='callback:': expected callback:<module>:<function>, "
                "e.g. callback:myapp.alerts:notify",
            ),
            (
                "callback:json",
                "OTELPERF_ALERTS='callback:json': expected callback:<module>:<function>, "
                "e.g. callback:myapp.alerts:notify",
            ),
            (
                "callback:no_such_module_xyz:f",
                "OTELPERF_ALERTS='callback:no_such_module_xyz:f': cannot import "
                "'no_such_module_xyz' (No module named 'no_such_module_xyz')",
            ),
            (
                "callback:json:nope.deeper",
                "OTELPERF_ALERTS='callback:json:nope.deeper': 'json' has no 'nope.deeper'",
            ),
            (
                "callback:json:__doc__",
                "OTELPERF_ALERTS='callback:json:__doc__': '__doc__' is not callable",
            ),
        ],
    )
    def test_error_names_origin_item_and_expectation(self, value: str, message: str) -> None:
        """Each mistake raises ConfigError with the origin, the item and what is expected."""
        with pytest.raises(ConfigError) as caught:
            parse_alert_sinks(value, origin=ENV)
        assert str(caught.value) == message
        assert "SECRET" not in str(caught.value)

    @pytest.mark.parametrize("value", [42, ["log", 42], ("log", 42)])
    def test_wrong_type_in_configure(self, value: Any) -> None:
        """A value that is neither string, sink nor callable is rejected with its repr."""
        with pytest.raises(ConfigError, match=re.escape(f"configure(alerts=42): {EXPECTED}")):
            parse_alert_sinks(value, origin="configure(alerts=...)")

    def test_registered_names_are_listed_as_expected(self) -> None:
        """Extra registered vendor names appear in the list of what is expected."""
        with pytest.raises(ConfigError, match=re.escape("newrelic or pagerduty")):
            parse_alert_sinks("foo", origin=ENV, vendors={"pagerduty": RecordingSink})

    def test_factory_config_error_is_prefixed_with_origin(self) -> None:
        """A vendor factory's own ConfigError (missing extra, missing key) names the origin."""

        def sentry() -> AlertSink:
            raise ConfigError("alert sink 'sentry' needs: pip install 'otelperf[sentry]'")

        with pytest.raises(ConfigError) as caught:
            parse_alert_sinks("sentry", origin=ENV, vendors={"sentry": sentry})
        assert str(caught.value) == (
            "OTELPERF_ALERTS='sentry': alert sink 'sentry' needs: pip install 'otelperf[sentry]'"
        )


def test_vendor_sink_without_its_extra_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the vendor SDK not importable, the error says which extra to install."""
    monkeypatch.setitem(sys.modules, "datadog_api_client", None)  # import fails
    monkeypatch.setenv("DD_API_KEY", "k")
    with pytest.raises(ConfigError) as caught:
        parse_alert_sinks("datadog", origin="OTELPERF_ALERTS")
    assert str(caught.value) == (
        "OTELPERF_ALERTS='datadog': alert sink 'datadog' needs: pip install 'otelperf[datadog]'"
    )
