"""The local sandbox: atbat, a worker, Redis and a Slack-like page, all on localhost.

`atbat sandbox` (and `atbat run` without Slack tokens) starts it so anyone can
try every feature in a browser without a Slack workspace.
"""
