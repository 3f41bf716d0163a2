"""``run_demo``: the whole ``otelperf demo`` run, from starting the app to writing the report.

1. An OTLP receiver (the live view's input) and an alert inbox start in this process, on
   127.0.0.1.
2. The demo app starts under gunicorn and ``opentelemetry-instrument --distro otelperf`` with a
   budget preset, exporting OTLP/HTTP to the receiver and alerts to the inbox.
3. The load generator runs as its own process for ``duration_s``; partway through, the
   ``/reports`` route regresses.
4. Meanwhile the live view (or, with ``live=False``, a log line every 5 s) shows the merged
   fleet, the alerts as they arrive, and the workers' memory.
5. The app is stopped (its workers flush their last export), and the HTML report (plus its
   JSON) is written.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live

from otelperf._receiver import OTLPReceiver
from otelperf.budgets import parse_budgets
from otelperf.demo import processes
from otelperf.demo.forward import OtlpForwarder, Protocol
from otelperf.demo.inbox import AlertInbox
from otelperf.demo.load import ROUTES
from otelperf.live.fleet import FleetMerger
from otelperf.live.pump import ReceiverPump
from otelperf.live.view import Frame, frame, plain_lines, render
from otelperf.report import render_report

__all__ = ["DemoOptions", "run_demo"]

_LOG_EVERY_S = 5.0


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """What ``otelperf demo`` was asked to do (see ``otelperf demo --help``)."""

    duration_s: float = 30.0
    workers: int = 3
    concurrency: int = 8
    budgets: str = "interactive"
    sample_ratio: float = 0.25
    window_s: float = 10.0
    regress_at: float = 0.4
    leak_kb: float = 0.0
    live: bool = True
    export_endpoint: str | None = None
    export_protocol: Protocol = "grpc"
    report_path: Path = Path("otelperf-demo-report.html")
    seed: int | None = None


def _app_env(
    options: DemoOptions, receiver: OTLPReceiver, inbox: AlertInbox, flag: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    env.update(
        OTEL_SERVICE_NAME="otelperf-demo",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_BSP_SCHEDULE_DELAY="500",
        OTELPERF_SAMPLE_RATIO=str(options.sample_ratio),
        OTELPERF_BUDGETS=options.budgets,
        OTELPERF_WINDOW_S=str(options.window_s),
        OTELPERF_ALERT_INTERVAL_S="5",
        OTELPERF_ALERTS=f"webhook:{inbox.url}",
        DEMO_REGRESS_FLAG=str(flag),
        DEMO_LEAK_KB=str(options.leak_kb),
        PYTHONUNBUFFERED="1",
    )
    return env


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; return the exit code (0 ok, 1 the demo ran but something is missing).

    Raises:
        DemoSetupError: The demo could not start (missing extra, app never ready).
        ConfigError: ``options.budgets`` does not parse.
    """
    budgets = parse_budgets(options.budgets, origin="otelperf demo --budgets")
    if missing := processes.missing_modules():
        raise processes.DemoSetupError(
            f"missing {', '.join(missing)}: pip install 'otelperf[demo]'"
        )
    started_s = time.time()
    merger = FleetMerger(
        window_s=options.window_s, budgets=budgets, started_s=started_s, memory_from_metrics=False
    )
    forwarder = (
        OtlpForwarder(options.export_endpoint, protocol=options.export_protocol)
        if options.export_endpoint
        else None
    )
    with OTLPReceiver(max_requests=2000) as receiver, tempfile.TemporaryDirectory() as tmp:
        pump = ReceiverPump(receiver, merger, forward=forwarder).start()
        inbox = AlertInbox(lambda entry: pump.read(lambda m: m.add_alert(entry)))
        flag = Path(tmp) / "regressed"
        port = processes.free_port()
        log_path = Path(tmp) / "app.log"
        try:
            with log_path.open("wb") as log:
                app = processes.start_app(
                    port=port,
                    workers=options.workers,
                    env=_app_env(options, receiver, inbox, flag),
                    log=log,
                )
            console.print(
                f"[bold]$ opentelemetry-instrument --distro otelperf python -m gunicorn "
                f"--workers {options.workers} otelperf.demo.app:app[/]  "
                f"(budgets: {options.budgets}; OTLP to {receiver.http_endpoint})"
            )
            try:
                processes.wait_ready(app, port)
                sent = _drive(options, console, pump, app, port, flag)
            finally:
                processes.stop(app, timeout_s=15)
        finally:
            inbox.close()
            pump.stop()
            if forwarder is not None:
                forwarder.close()
        app_log = log_path.read_text(errors="replace")
    return _finish(options, console, pump, sent, app_log, forwarder)


def _drive(
    options: DemoOptions,
    console: Console,
    pump: ReceiverPump,
    app: subprocess.Popen[bytes],
    port: int,
    flag: Path,
) -> dict[str, object]:
    """Run the load generator while showing the view; return its JSON tally."""
    load = processes.start_load(
        port=port, duration_s=options.duration_s, concurrency=options.concurrency, seed=options.seed
    )
    load_started = time.monotonic()
    regress_after_s = options.duration_s * options.regress_at
    title = "otelperf demo"
    footer = f"load: {options.concurrency} clients for {options.duration_s:g} s · Ctrl-C stops"
    next_log = load_started + _LOG_EVERY_S
    live = Live(console=console, refresh_per_second=4, transient=False) if options.live else None
    try:
        if live is not None:
            live.start()
        while load.poll() is None:
            now_s = time.time()
            if not flag.exists() and time.monotonic() - load_started >= regress_after_s:
                flag.touch()  # /reports gets ~10x slower from now on
            observe = functools.partial(
                _observe, now_s=now_s, rss=processes.worker_rss(app), title=title, footer=footer
            )
            data = pump.read(observe)
            if live is not None:
                live.update(render(data))
            elif time.monotonic() >= next_log:
                next_log += _LOG_EVERY_S
                console.print("\n".join(plain_lines(data)), highlight=False)
            time.sleep(0.5)
    finally:
        if live is not None:
            live.stop()
        if load.poll() is None:
            processes.stop(load, timeout_s=5)
    output = load.stdout.read() if load.stdout is not None else ""
    try:
        tally: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tally = {"sent": 0, "failed": 0, "by_operation": {}}
    return tally


def _observe(
    merger: FleetMerger, *, now_s: float, rss: dict[int, float], title: str, footer: str
) -> Frame:
    """Record the workers' memory, then copy out one screen (under the pump's lock)."""
    for pid, value in rss.items():
        merger.add_memory(f"worker {pid}", now_s, value)
    return frame(merger, title=title, now_s=now_s, footer=footer)


def _finish(
    options: DemoOptions,
    console: Console,
    pump: ReceiverPump,
    tally: dict[str, object],
    app_log: str,
    forwarder: OtlpForwarder | None,
) -> int:
    now_s = time.time()
    data = pump.read(lambda m: frame(m, title="otelperf demo: final", now_s=now_s))
    report = pump.read(
        lambda m: m.report_data(
            title="otelperf demo",
            now_s=now_s,
            notes=(
                f"{options.workers} gunicorn workers, {options.concurrency} load clients for "
                f"{options.duration_s:g} s, budgets: {options.budgets}, head sampling "
                f"{options.sample_ratio:g} (error rates estimated from the sampled spans).",
            ),
        )
    )
    console.print(render(data))
    measured = sum(op.summary.count for op in report.operations)
    console.print(
        f"otelperf measured {measured:,} requests over {report.sources} worker processes; "
        f"the load generator sent {tally.get('sent', 0):,} ({tally.get('failed', 0)} failed)."
    )
    for regression in report.regressions:
        console.print(
            f"[bold red]regression[/]: {regression.operation} p95 "
            f"{regression.before_p95_ms:.1f} ms -> {regression.after_p95_ms:.1f} ms "
            f"({regression.ratio:.1f}x)"
        )
    by_source = sum(1 for a in report.alerts if a.source != "fleet")
    console.print(
        f"alerts: {len(report.alerts)} ({by_source} from the workers' webhook, "
        f"{len(report.alerts) - by_source} from judging the merged fleet)"
    )
    if forwarder is not None:
        console.print(
            f"forwarded to {forwarder.endpoint}: {forwarder.sent} requests sent, "
            f"{forwarder.failed} failed, {forwarder.dropped} dropped"
        )
    if "Traceback" in app_log:
        console.print("[yellow]the app logged a traceback:[/]\n" + app_log[-3000:])
    path = options.report_path.resolve()
    path.write_text(render_report(report, "html"), encoding="utf-8")
    path.with_suffix(".json").write_text(render_report(report, "json"), encoding="utf-8")
    console.print(f"report: {path} (data: {path.with_suffix('.json').name})")
    missing = [r.operation for r in ROUTES if report.operation(r.operation) is None]
    if missing:
        console.print(f"[red]no measurements arrived for: {', '.join(missing)}[/]")
        console.print(app_log[-3000:])
        return 1
    return 0
