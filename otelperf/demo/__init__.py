"""``otelperf demo``: a real web app under real load, watched live through otelperf.

``app`` is the Flask application (served by gunicorn under ``opentelemetry-instrument --distro
otelperf``), ``load`` the load generator run as a separate process, ``inbox`` the webhook that
receives the app's alerts, ``forward`` the optional copy of everything to a Collector, and
``runner`` puts them together. Needs ``pip install 'otelperf[demo]'``.
"""
