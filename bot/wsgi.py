"""WSGI entry point for production servers: `gunicorn bot.wsgi:app`."""

from bot.logs import setup_logging
from bot.runtime import build_runtime, install
from bot.store.base import UNAVAILABLE
from bot.web import create_app
from workers.tick import ensure_ticking

setup_logging()
runtime = build_runtime()
install(runtime)
app = create_app(runtime)
try:
    ensure_ticking(runtime)
except UNAVAILABLE:  # the first tick is scheduled by the worker or the next start
    pass
