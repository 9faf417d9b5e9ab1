"""Importing this module registers every feature's subcommands, listeners and checks."""

from bot.services import history  # noqa: F401,E402
from bot.slack import listeners  # noqa: F401
