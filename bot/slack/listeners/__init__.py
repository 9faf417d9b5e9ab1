"""The Slack listeners, one module per feature: its `/oncall` subcommands (described with
`@command`) and `register(app, runtime)` for its buttons, menus, modals and events.
`bot/wiring.py` lists what is served."""
