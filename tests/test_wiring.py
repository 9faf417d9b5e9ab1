"""Nothing registers itself by being imported, so a listener or subcommand left out of
bot/wiring.py would silently not exist: these tests catch that."""

from __future__ import annotations

import importlib
import pkgutil

from bot import wiring
from bot.slack import listeners


def listener_modules() -> list:
    return [importlib.import_module(f"{listeners.__name__}.{m.name}")
            for m in pkgutil.iter_modules(listeners.__path__)]


def test_every_listener_module_is_registered() -> None:
    assert {m.__name__ for m in listener_modules()} == {m.__name__ for m in wiring.LISTENERS}


def test_every_described_subcommand_is_served() -> None:
    described = {fn for m in listener_modules() for fn in vars(m).values()
                 if callable(fn) and hasattr(fn, "subcommand") and fn.__module__ == m.__name__}
    assert described == {sub.handler for sub in wiring.ROUTER.commands}


def test_help_lists_every_subcommand() -> None:
    usage = wiring.ROUTER.usage()
    assert all(f"`{sub.usage}`" in usage for sub in wiring.ROUTER.commands)
