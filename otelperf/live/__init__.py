"""The live fleet view of ``otelperf demo`` and ``otelperf top``: merge OTLP, show it in a terminal.

Modules (imported directly; this package re-exports nothing so that ``otelperf.report()``, which
uses the pure parts, does not load the OTLP receiver):

* ``fleet``: ``FleetMerger`` merges the ``otelperf.operation.duration`` exponential histograms of
  one or many processes into per-operation windows and timelines.
* ``timeline``, ``summary``, ``judge``: time bins of sketches, report records, fleet budgets.
* ``pump``: ``ReceiverPump`` feeds a merger from an ``OTLPReceiver`` on a thread.
* ``view``: ``frame``/``render``, the ``rich`` screen.
"""

__all__: list[str] = []
