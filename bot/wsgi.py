"""WSGI entry point for production servers: `gunicorn bot.wsgi:app`."""

import contextlib

from bot.logs import setup_logging
from bot.periodic import ensure_ticking
from bot.runtime import build_runtime, freeze_startup_objects, install
from bot.store.base import UNAVAILABLE
from bot.web import create_app

setup_logging()
runtime = build_runtime()
install(runtime)
app = create_app(runtime)
# Without Redis now, the worker (or the next start) schedules the first tick.
with contextlib.suppress(*UNAVAILABLE):
    ensure_ticking(runtime)
freeze_startup_objects()
