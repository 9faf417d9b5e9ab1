"""Importing this module registers every feature's subcommands, listeners and checks."""

from bot.slack import listeners  # noqa: F401
