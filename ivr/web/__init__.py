"""The service Twilio calls: the webhooks, the turn, the app."""

from ivr.web.app import create_app

__all__ = ["create_app"]
