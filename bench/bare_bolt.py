"""The baseline for bench/ack_latency.py: a Bolt app whose /oncall only acks."""

import os

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

bolt = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token=os.environ["SLACK_BOT_TOKEN"],
           client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
           token_verification_enabled=False)


@bolt.command("/oncall")
def oncall(ack) -> None:
    ack("ok")


handler = SlackRequestHandler(bolt)
app = Flask("bare")


@app.post("/slack/events")
def events():
    return handler.handle(request)
