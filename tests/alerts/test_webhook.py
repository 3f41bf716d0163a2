from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import logging
import socket
import threading
import time

import pytest
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelperf._errors import ConfigError
from otelperf.alerts import AlertDispatcher, WebhookError, WebhookSink
from otelperf.alerts.webhook import _retry_after_s
from tests.alerts.helpers import make_alert
from tests.alerts.hook_server import STALL, HookServer, Reply


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestWebhookDelivery:
    def test_posts_alert_json_with_valid_signature(self, hook_server: HookServer) -> None:
        """The body is alert.to_dict() as JSON; the HMAC over timestamp.body verifies."""
        alert = make_alert(trace_id="ab" * 16)
        sink = WebhookSink(hook_server.url("/hook?token=abc"), secret="s3cret")
        sink.send(alert)
        [request] = hook_server.received
        assert request.path == "/hook?token=abc"
        assert json.loads(request.body) == alert.to_dict()
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert len(headers["x-otelperf-delivery"]) == 32
        assert abs(int(headers["x-otelperf-timestamp"]) - time.time()) < 60
        signed = headers["x-otelperf-timestamp"].encode() + b"." + request.body
        expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-otelperf-signature"], f"sha256={expected}")

    def test_no_signature_without_secret(self, hook_server: HookServer) -> None:
        """Without a secret there is no signature header (the timestamp is still sent)."""
        WebhookSink(hook_server.url()).send(make_alert())
        [request] = hook_server.received
        assert "x-otelperf-signature" not in request.headers
        assert "x-otelperf-timestamp" in request.headers

    def test_extra_headers_and_userinfo_become_request_headers(
        self, hook_server: HookServer
    ) -> None:
        """Given headers are sent; user:password in the URL becomes Basic auth."""
        url = hook_server.url().replace("http://", "http://alice:pa%40ss@")
        WebhookSink(url, headers={"X-Team": "payments"}).send(make_alert())
        [request] = hook_server.received
        assert request.headers["x-team"] == "payments"
        assert (
            request.headers["authorization"] == "Basic " + base64.b64encode(b"alice:pa@ss").decode()
        )

    def test_retries_5xx_then_delivers(self, hook_server: HookServer) -> None:
        """A 500 then a 200: two attempts with the same delivery id, and no error."""
        hook_server.replies.extend([Reply(500), Reply(200)])
        WebhookSink(hook_server.url(), backoff_s=0.01).send(make_alert())
        first, second = hook_server.received
        assert first.headers["x-otelperf-delivery"] == second.headers["x-otelperf-delivery"]
        assert first.body == second.body

    def test_honours_retry_after_on_429(self, hook_server: HookServer) -> None:
        """A 429 with Retry-After: 1 delays the next attempt by at least a second."""
        hook_server.replies.extend([Reply(429, {"Retry-After": "1"}), Reply(200)])
        WebhookSink(hook_server.url(), backoff_s=0.01, timeout_s=5).send(make_alert())
        first, second = hook_server.received
        assert second.at_s - first.at_s >= 0.95

    def test_gives_up_when_retry_after_passes_the_deadline(self, hook_server: HookServer) -> None:
        """A Retry-After longer than the time left ends the send at once."""
        hook_server.replies.append(Reply(503, {"Retry-After": "30"}))
        started = time.monotonic()
        with pytest.raises(
            WebhookError, match=r"HTTP 503; the next attempt \(in 30 s\) would pass"
        ):
            WebhookSink(hook_server.url(), timeout_s=1).send(make_alert())
        assert time.monotonic() - started < 0.5
        assert len(hook_server.received) == 1

    def test_stalled_server_gives_up_within_the_deadline(self, hook_server: HookServer) -> None:
        """A server that never answers costs at most timeout_s, however many retries remain."""
        hook_server.replies.extend([STALL] * 5)
        started = time.monotonic()
        with pytest.raises(WebhookError, match="timed out"):
            WebhookSink(hook_server.url(), timeout_s=0.5, retries=3).send(make_alert())
        assert 0.4 < time.monotonic() - started < 1.0

    def test_gives_up_after_retries_on_connection_errors(self) -> None:
        """Connection refused is retried; after retries + 1 attempts the error says so."""
        sink = WebhookSink(f"http://127.0.0.1:{_closed_port()}/hook", retries=2, backoff_s=0.01)
        with pytest.raises(
            WebhookError, match=r"failed after 3 attempt\(s\): ConnectionRefusedError"
        ):
            sink.send(make_alert())

    @pytest.mark.parametrize("status", [400, 401, 404, 302])
    def test_client_errors_and_redirects_are_not_retried(
        self, hook_server: HookServer, status: int
    ) -> None:
        """4xx and 3xx fail on the first attempt (redirects are not followed)."""
        hook_server.replies.append(Reply(status, {"Location": hook_server.url("/elsewhere")}))
        with pytest.raises(WebhookError, match=f"failed after 1 attempt\\(s\\): HTTP {status}$"):
            WebhookSink(hook_server.url(), backoff_s=0.01).send(make_alert())
        assert [r.path for r in hook_server.received] == ["/hook"]

    def test_close_cuts_a_retry_wait_short(self, hook_server: HookServer) -> None:
        """close() during a Retry-After wait ends the send at once; later sends fail fast."""
        hook_server.replies.append(Reply(503, {"Retry-After": "3"}))
        sink = WebhookSink(hook_server.url(), timeout_s=10)
        threading.Timer(0.2, sink.close).start()
        started = time.monotonic()
        with pytest.raises(WebhookError, match="the sink was closed"):
            sink.send(make_alert())
        assert time.monotonic() - started < 1.5
        with pytest.raises(WebhookError, match="the sink is closed"):
            sink.send(make_alert())

    def test_sends_with_instrumentation_suppressed(
        self, hook_server: HookServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """OTel instrumentations see the suppression flag while our request is made."""
        sink = WebhookSink(hook_server.url())
        seen: list[bool] = []
        real_open = sink._opener.open

        def spy(*args: object, **kwargs: object) -> object:
            seen.append(is_instrumentation_enabled())
            return real_open(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(sink._opener, "open", spy)
        sink.send(make_alert())
        assert seen == [False]
        assert is_instrumentation_enabled()


class TestWebhookSecrets:
    def test_query_string_and_userinfo_never_reach_the_logs(
        self, hook_server: HookServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing webhook is logged by the dispatcher without the URL's token or password."""
        hook_server.replies.extend([Reply(500)] * 3)
        url = hook_server.url("/hook?token=TOKEN-SECRET").replace("http://", "http://u:PW-SECRET@")
        sink = WebhookSink(url, retries=0)
        dispatcher = AlertDispatcher([sink])
        with caplog.at_level(logging.DEBUG):
            dispatcher.submit(make_alert())
            assert dispatcher.flush(timeout_s=5)
            dispatcher.shutdown()
        assert dispatcher.dropped["sink_error"] == 1
        formatter = logging.Formatter("%(name)s %(message)s")
        logged = "\n".join(formatter.format(record) for record in caplog.records)
        assert f"POST http://127.0.0.1:{hook_server.port}/hook failed after 1 attempt(s)" in logged
        assert "SECRET" not in logged
        assert "SECRET" not in repr(sink)

    def test_secret_and_headers_are_not_in_repr(self) -> None:
        """repr shows only the redacted URL."""
        sink = WebhookSink(
            "https://hooks.example/x?t=Q-SECRET",
            secret="S-SECRET",
            headers={"Authorization": "A-SECRET"},
        )
        assert repr(sink) == "WebhookSink('https://hooks.example/x')"


class TestWebhookConfig:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9/x",
            "http://127.8.9.10/x",
            "http://[::1]:9/x",
            "http://localhost/x",
            "http://LOCALHOST./x",
            "https://hooks.example/x",
        ],
    )
    def test_https_or_loopback_http_is_accepted(self, url: str) -> None:
        """https anywhere and plain http to loopback hosts need no opt-in."""
        assert WebhookSink(url).name == "webhook"

    def test_http_to_remote_host_needs_allow_http(self) -> None:
        """Plain http to a non-loopback host raises ConfigError without the query string."""
        with pytest.raises(ConfigError) as caught:
            WebhookSink("http://hooks.example/x?token=SECRET")
        assert str(caught.value) == (
            "webhook URL 'http://hooks.example/x': expected https:// (plain http only to loopback "
            "hosts, or with allow_http=True)"
        )
        assert WebhookSink("http://hooks.example/x", allow_http=True).name == "webhook"

    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("ftp://hooks.example/x?t=SECRET", "ftp://hooks.example/x"),
            ("https:///x?t=SECRET", "https:///x"),
            ("hooks.example/x?t=SECRET", "hooks.example/x"),
            ("https://hooks.example:99999/x?t=SECRET", "https://hooks.example:99999/x"),
            ("https://hooks.example/a b?t=SECRET", "https://hooks.example/a b"),
        ],
    )
    def test_unusable_url_is_a_config_error(self, url: str, shown: str) -> None:
        """A URL that cannot be POSTed to is rejected at construction, shown redacted."""
        with pytest.raises(ConfigError, match="expected an https:// URL") as caught:
            WebhookSink(url)
        assert str(caught.value).startswith(f"webhook URL {shown!r}: ")
        assert "SECRET" not in str(caught.value)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"timeout_s": 0}, "timeout_s must be a positive number of seconds, got 0"),
            ({"retries": -1}, "retries must be an int >= 0, got -1"),
            ({"backoff_s": -0.5}, "backoff_s must be a number of seconds >= 0, got -0.5"),
            ({"secret": ""}, "secret must be a non-empty string or bytes, or None"),
            ({"headers": {"Bad Name": "x"}}, "webhook header name 'Bad Name' is not a valid"),
            ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "webhook header 'X-A' must be a one-line"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, object], message: str) -> None:
        """Out-of-range numbers and malformed headers raise ValueError naming the argument."""
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
            WebhookSink("https://hooks.example/x", **kwargs)  # type: ignore[arg-type]


class TestRetryAfter:
    def test_parses_seconds_and_http_dates(self) -> None:
        """Delta seconds and HTTP dates are understood; anything else is ignored."""
        assert _retry_after_s("7") == 7.0
        in_3_s = email.utils.formatdate(time.time() + 3, usegmt=True)
        assert _retry_after_s(in_3_s) == pytest.approx(3, abs=1.1)
        assert _retry_after_s(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
        assert _retry_after_s("soon") is None
        assert _retry_after_s("") is None
        assert _retry_after_s(None) is None
