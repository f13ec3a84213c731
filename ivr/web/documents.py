"""The TwiML documents the service answers with: a turn's, the apology, a coordinator's whisper.

A turn's document is rendered once per set of prompts and reused at any turn (only `t=`
differs). A prompt made from the caller's answers (a read-back of a member id or a date of
birth) is kept nowhere but the call's record: the cache holds its turn with a numbered blank
in its place, and each turn fills the blanks with its own texts, escaped as the renderer
escapes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from typing import TypeVar
from xml.sax.saxutils import escape

from ivr.engine.commands import Command, Dial, Effect, Gather, Say
from ivr.telephony import twiml
from ivr.web import urls

RENDER_CACHE_SIZE = 4096
_C = TypeVar("_C", bound=Command)
# Private-use characters around a number: never in a flow's text, a URL or TwiML's markup.
_OPEN, _CLOSE = "\ue000", "\ue001"
_BLANK = re.compile(f"{_OPEN}([0-9]+){_CLOSE}")


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


def _blanked(commands: tuple[Command, ...]) -> tuple[tuple[Command, ...], list[str]] | None:
    """The commands with each personal prompt's text a numbered blank, and those texts; None
    when a text would not survive it (blank, or holding the blanks' own characters)."""
    texts: list[str] = []
    fit = True

    def blank(prompt: _C) -> _C:
        nonlocal fit
        if not isinstance(prompt, Say):
            return prompt
        fit = fit and _OPEN not in prompt.text and (not prompt.personal or _fills(prompt.text))
        if not prompt.personal:
            return prompt
        texts.append(prompt.text)
        return replace(prompt, text=f"{_OPEN}{len(texts) - 1}{_CLOSE}")

    shape = tuple(replace(c, prompts=tuple(blank(p) for p in c.prompts)) if isinstance(c, Gather) else blank(c)
                  for c in commands)
    return (shape, texts) if fit else None


def _fills(text: str) -> bool:
    """Whether a text reads in a blank as the renderer would write it: not blank, and UTF-8
    (the renderer writes a lone surrogate as a character reference)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return bool(text.strip())


def turn(commands: Iterable[Command], number: int) -> str:
    """The document of turn `number`."""
    sounding = tuple(_sounding(c) for c in commands if not isinstance(c, Effect))
    if not personal(sounding):
        return urls.at_turn(_rendered(sounding), number)
    blanked = _blanked(sounding)
    if blanked is None:
        return twiml.render(sounding, urls.turn_urls(number))
    shape, texts = blanked
    return _BLANK.sub(lambda m: escape(texts[int(m[1])]), urls.at_turn(_rendered(shape), number))


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
