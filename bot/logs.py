"""Structured logs: one line per event, `key=value` pairs after a short message."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str | None = None) -> None:
    level = level or os.environ.get("ATBAT_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d %(message)s",
    )
    # The HTTP client libraries log request lines that may carry tokens in URLs.
    for noisy in ("urllib3", "slack_sdk", "slack_bolt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
