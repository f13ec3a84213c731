"""The TwiML documents the service answers with: a turn's, the apology, a coordinator's whisper.

A turn's document is rendered once per set of prompts and reused at any turn (only `t=`
differs), unless a prompt was made from the caller's answers (a read-back of a member id
or a date of birth): those are rendered each time and kept nowhere but the call's record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache

from ivr.engine.commands import Command, Dial, Effect, Gather, Say
from ivr.telephony import twiml
from ivr.web import urls

RENDER_CACHE_SIZE = 4096


@lru_cache(maxsize=RENDER_CACHE_SIZE)
def _rendered(commands: tuple[Command, ...]) -> str:
    return twiml.render(commands, urls.turn_urls(urls.TURN_MARK))


def _sounding(command: Command) -> Command:
    # A Dial's whisper is not in its TwiML (the coordinator's leg asks for it): leave it out of the key.
    return replace(command, whisper=()) if isinstance(command, Dial) and command.whisper else command


def personal(commands: Iterable[Command]) -> bool:
    """True when any prompt was made from the caller's answers."""
    for command in commands:
        prompts = command.prompts if isinstance(command, Gather) else (command,)
        if any(isinstance(prompt, Say) and prompt.personal for prompt in prompts):
            return True
    return False


def turn(commands: Iterable[Command], number: int) -> str:
    """The document of turn `number`."""
    sounding = tuple(_sounding(c) for c in commands if not isinstance(c, Effect))
    if personal(sounding):
        return twiml.render(sounding, urls.turn_urls(number))
    return urls.at_turn(_rendered(sounding), number)


def apology(says: Iterable[Say], fallback_number: str | None) -> str:
    """The safe route: sorry, then the main line (or goodbye)."""
    return twiml.render_apology(says, fallback_number)


def whisper(say: Say, turn_number: int) -> str:
    """A coordinator's leg: who is calling and why, then press 1 to accept."""
    return twiml.render_whisper(say, urls.accept_url(turn_number))


def accept(accepted: bool, details: Say | None = None) -> str:
    """After the coordinator's key: the details and then the bridge, or decline this leg."""
    return twiml.render_accept(accepted, details)


DECLINE = accept(False)
HANGUP = twiml.render((), urls.turn_urls(0))  # a bare <Hangup/>
