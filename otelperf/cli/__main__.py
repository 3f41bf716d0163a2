"""``python -m otelperf.cli``."""

import sys

from otelperf.cli import main

sys.exit(main())
