"""Importing this module registers every feature's subcommands, listeners and checks."""

from bot.services import history, reports  # noqa: F401
from bot.slack import listeners  # noqa: F401
