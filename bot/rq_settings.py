"""Settings for `rq worker --with-scheduler -c bot.rq_settings` (the Procfile's worker;
`atbat worker` starts the same way).

RQ imports this module in the worker's main process, before it forks a work
horse per job. Building the runtime and importing every job module here means
each forked job starts warm instead of re-importing atbat and re-reading the
config. A bad setting stops the worker with one line, as everywhere else.
"""

import sys

import bot.wiring  # noqa: F401  (preloads every feature)
import workers.alerts  # noqa: F401
import workers.autoremediation  # noqa: F401
import workers.covers  # noqa: F401
import workers.deliveries  # noqa: F401
import workers.feedback  # noqa: F401
import workers.graduation  # noqa: F401
import workers.handoffs  # noqa: F401
import workers.home  # noqa: F401
import workers.incidents  # noqa: F401
import workers.maintenance  # noqa: F401
import workers.paging  # noqa: F401
import workers.profiles  # noqa: F401
import workers.remediation  # noqa: F401
import workers.reports  # noqa: F401
import workers.silences  # noqa: F401
import workers.slack  # noqa: F401
import workers.swaps  # noqa: F401
import workers.tick  # noqa: F401
from bot.config import ConfigError
from bot.periodic import ensure_ticking, watch_ticks
from bot.runner import harden_process
from bot.runtime import QUEUE_NAMES, build_runtime, freeze_startup_objects, install
from bot.settings import SettingsError
from bot.store.connection import rq_connection_settings

try:
    runtime = build_runtime()  # `atbat worker` uses it too (RQ reads only upper-case names)
except (SettingsError, ConfigError) as exc:
    sys.exit(f"atbat: {exc}")
install(runtime)
harden_process()  # runbooks of the same user cannot read this process's secrets
ensure_ticking(runtime)
watch_ticks(runtime)  # re-seeds the tick if Redis loses it

# RQ reads REDIS_URL, or SENTINEL for a redis+sentinel:// URL (then REDIS_URL is None).
_connection = rq_connection_settings(runtime.settings.redis_url)
REDIS_URL = _connection["REDIS_URL"]
SENTINEL = _connection.get("SENTINEL")
QUEUES = list(QUEUE_NAMES)
freeze_startup_objects()
