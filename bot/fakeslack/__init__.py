"""A Slack-compatible workspace that runs locally: Web API server and request client."""

from bot.fakeslack.client import SignedRequest, SlackClient, sign
from bot.fakeslack.server import RunningServer, create_app, serve_in_thread
from bot.fakeslack.state import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    ApiCall,
    ResponsePost,
    Workspace,
)

__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "TEAM_ID",
    "ApiCall",
    "ResponsePost",
    "RunningServer",
    "SignedRequest",
    "SlackClient",
    "Workspace",
    "create_app",
    "serve_in_thread",
    "sign",
]
