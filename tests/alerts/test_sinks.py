from __future__ import annotations

import logging

import pytest

from otelperf.alerts import Alert, AlertSeverity, CallbackSink, LogSink
from tests.alerts.helpers import make_alert


class TestLogSink:
    @pytest.mark.parametrize(
        ("severity", "level"),
        [
            (AlertSeverity.WARNING, logging.WARNING),
            (AlertSeverity.ERROR, logging.ERROR),
            (AlertSeverity.CRITICAL, logging.ERROR),
            (AlertSeverity.RESOLVED, logging.WARNING),
        ],
    )
    def test_logs_at_level_of_severity(
        self, caplog: pytest.LogCaptureFixture, severity: AlertSeverity, level: int
    ) -> None:
        """warning/resolved log at WARNING, error/critical at ERROR, on otelperf.alerts."""
        alert = make_alert(severity=severity)
        with caplog.at_level(logging.DEBUG, logger="otelperf.alerts"):
            LogSink().send(alert)
        [record] = caplog.records
        assert (record.name, record.levelno) == ("otelperf.alerts", level)
        assert record.getMessage() == f"otelperf budget alert: {alert.title}"

    def test_record_carries_alert_dict_and_trace(self, caplog: pytest.LogCaptureFixture) -> None:
        """Structured handlers get the alert dict; the line names the example trace."""
        alert = make_alert(trace_id="ab" * 16)
        with caplog.at_level(logging.WARNING, logger="otelperf.alerts"):
            LogSink().send(alert)
        [record] = caplog.records
        assert record.__dict__["otelperf_alert"] == alert.to_dict()
        assert record.getMessage().endswith(f"(example trace {'ab' * 16})")

    def test_uses_given_logger_and_name(self, caplog: pytest.LogCaptureFixture) -> None:
        """A custom logger and name replace the defaults."""
        sink = LogSink(logger=logging.getLogger("myapp.alerts"), name="applog")
        with caplog.at_level(logging.WARNING, logger="myapp.alerts"):
            sink.send(make_alert())
        assert sink.name == "applog"
        assert [r.name for r in caplog.records] == ["myapp.alerts"]


class TestCallbackSink:
    def test_calls_function_with_alert(self) -> None:
        """Each send calls the function once with the alert."""
        seen: list[Alert] = []
        sink = CallbackSink(seen.append)
        alert = make_alert()
        sink.send(alert)
        assert seen == [alert]

    def test_default_name_is_qualified_name_of_function(self) -> None:
        """The name says which function it calls; an explicit name wins."""

        def notify(alert: Alert) -> None:
            pass

        assert CallbackSink(notify).name.startswith("callback:")
        assert CallbackSink(notify).name.endswith("notify")
        assert CallbackSink(notify, name="pager").name == "pager"
        assert "notify" in repr(CallbackSink(notify))

    def test_exceptions_propagate_to_the_dispatcher(self) -> None:
        """The sink does not hide failures; the dispatcher contains them."""

        def broken(alert: Alert) -> None:
            raise RuntimeError("pager down")

        with pytest.raises(RuntimeError, match="pager down"):
            CallbackSink(broken).send(make_alert())

    def test_rejects_non_callable(self) -> None:
        """A value that cannot be called is a TypeError at construction."""
        with pytest.raises(
            TypeError, match="CallbackSink needs a callable taking an Alert, got 42"
        ):
            CallbackSink(42)  # type: ignore[arg-type]
