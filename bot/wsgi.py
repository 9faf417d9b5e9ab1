"""WSGI entry point for production servers: `gunicorn bot.wsgi:app`."""

from bot.logs import setup_logging
from bot.runtime import build_runtime, install
from bot.web import create_app

setup_logging()
runtime = build_runtime()
install(runtime)
app = create_app(runtime)
