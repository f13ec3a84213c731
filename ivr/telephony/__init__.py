"""Twilio's idioms: TwiML documents and request signatures."""
