from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelperf.alerts import AlertSink, CallbackSink, LogSink, WebhookSink, redact_url
from tests.alerts.helpers import RecordingSink

_SECRET = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=40)


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("https://hooks.example/x?token=abc", "https://hooks.example/x"),
            ("https://user:pw@hooks.example:8443/a/b?t=1#frag", "https://hooks.example:8443/a/b"),
            ("https://user@hooks.example/x", "https://hooks.example/x"),
            ("https://u:p@ss@hooks.example/x", "https://hooks.example/x"),
            ("http://[::1]:8080/hook?k=v", "http://[::1]:8080/hook"),
            ("https://hooks.example", "https://hooks.example"),
            ("https://HOOKS.example/Path", "https://hooks.example/Path"),
            ("https://user:pw@hooks.example:99999/x?t=1", "https://hooks.example:99999/x"),
            ("https://user:pw@[::1/x?t=1", "https://[::1/x"),
            ("hooks.example/x?token=abc", "hooks.example/x"),
            ("", ""),
        ],
    )
    def test_drops_userinfo_query_and_fragment(self, url: str, shown: str) -> None:
        """What may carry a secret is removed; scheme, host, port and path stay."""
        assert redact_url(url) == shown

    @given(user=_SECRET, password=_SECRET, token=_SECRET, fragment=_SECRET)
    def test_secrets_never_survive(
        self, user: str, password: str, token: str, fragment: str
    ) -> None:
        """No userinfo, query or fragment text appears in the redacted URL."""
        url = f"https://{user}:{password}@hooks.example/hook?token={token}#{fragment}"
        shown = redact_url(url)
        assert shown == "https://hooks.example/hook"
        for secret in (user, password, token, fragment):
            assert secret not in shown


class TestAlertSinkProtocol:
    def test_built_in_sinks_satisfy_the_protocol(self) -> None:
        """LogSink, CallbackSink, WebhookSink and a duck-typed class are all AlertSinks."""
        sinks = [
            LogSink(),
            CallbackSink(print),
            WebhookSink("https://hooks.example/x"),
            RecordingSink(),
        ]
        assert all(isinstance(sink, AlertSink) for sink in sinks)

    def test_plain_callables_are_not_sinks(self) -> None:
        """A function has no name/send, so it is wrapped rather than used as a sink."""
        assert not isinstance(print, AlertSink)
        assert not isinstance(lambda alert: None, AlertSink)
