"""Turn the engine's commands into TwiML: the one place that knows Twilio's idioms.

Theory of operation: a turn is a tuple of commands ending with exactly one command
that waits (Gather, Dial, Record) or with Hangup. Prompts before a Gather go inside it,
so that keys pressed during them (a greeting, a welcome, a read-back before the next
question) are heard, not lost; before anything else they become top-level verbs. A
Gather is always followed by a Redirect, because
Twilio carries on with the next verb when nobody presses a key, and handling that in
the same round trip saves the caller a second webhook's worth of silence. A turn
that ends without waiting gets a final Hangup so Twilio never falls off the end of
the document. Effects are side effects the web layer performs; they make no sound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather as GatherVerb
from twilio.twiml.voice_response import VoiceResponse

from ivr.engine.commands import (
    Command,
    Dial,
    Effect,
    Gather,
    Hangup,
    Pause,
    Play,
    Prompt,
    Record,
    Say,
)

MAX_DIAL_NUMBERS = 10  # Twilio rings at most ten <Number>s of one <Dial>


@dataclass(frozen=True, slots=True)
class TurnUrls:
    """Where Twilio should send the caller next, for each way this turn can end."""

    gather: str
    no_input: str
    dial: str
    record: str
    whisper: str | None = None


def _prompt(parent: VoiceResponse | GatherVerb, command: Say | Play | Pause) -> None:
    if isinstance(command, Say):
        if not command.text.strip():
            return  # Twilio rejects an empty <Say> (and it would only be silence anyway)
        parent.say(command.text, voice=command.voice, language=command.language)
    elif isinstance(command, Play):
        parent.play(command.url)
    else:
        parent.pause(length=command.seconds)


def _gather(response: VoiceResponse, command: Gather, urls: TurnUrls, before: Iterable[Prompt] = ()) -> None:
    verb = response.gather(
        action=urls.gather,
        method="POST",
        timeout=command.timeout,
        num_digits=command.num_digits,
        finish_on_key=command.finish_on_key,
    )
    for prompt in (*before, *command.prompts):
        if not isinstance(prompt, (Say, Play, Pause)):
            raise ValueError(f"a Gather may only nest Say, Play and Pause, not {prompt!r}")
        _prompt(verb, prompt)
    response.redirect(urls.no_input, method="POST")


def _dial(response: VoiceResponse, command: Dial, urls: TurnUrls) -> None:
    if not command.numbers:
        raise ValueError(f"team {command.team!r} has no number to dial")
    if len(command.numbers) > MAX_DIAL_NUMBERS:
        raise ValueError(
            f"team {command.team!r} has {len(command.numbers)} numbers;"
            f" Twilio rings at most {MAX_DIAL_NUMBERS}"
        )
    # answerOnBridge keeps the caller hearing ringing (not silence) until someone accepts.
    verb = response.dial(
        action=urls.dial, method="POST", timeout=command.timeout, answer_on_bridge=True
    )
    for number in command.numbers:
        if urls.whisper is None:
            verb.number(number)
        else:
            verb.number(number, url=urls.whisper, method="POST")


def _record(response: VoiceResponse, command: Record, urls: TurnUrls) -> None:
    response.record(
        action=urls.record,
        method="POST",
        max_length=command.max_length,
        timeout=command.timeout,
        finish_on_key=command.finish_on_key,
        play_beep=command.play_beep,  # VoiceResponse writes bools as "true"/"false"
    )
    # When nothing was recorded Twilio skips the action and carries on with the next verb.
    response.redirect(urls.no_input, method="POST")


def render(commands: Iterable[Command], urls: TurnUrls) -> str:
    """Render one turn's commands as a TwiML document."""
    response = VoiceResponse()
    ended: Command | None = None
    pending: list[Prompt] = []  # prompts not yet placed: inside the next Gather, if one comes
    for command in commands:
        if isinstance(command, Effect):
            continue
        if ended is not None:
            # Twilio would never play it: a command after the turn ended is an engine bug.
            raise ValueError(f"{command!r} follows {ended!r}, which ends the turn")
        if isinstance(command, (Say, Play, Pause)):
            pending.append(command)
            continue
        if isinstance(command, Gather):
            _gather(response, command, urls, pending)
            pending = []
            ended = command
            continue
        for prompt in pending:
            _prompt(response, prompt)
        pending = []
        if isinstance(command, Dial):
            _dial(response, command, urls)
        elif isinstance(command, Record):
            _record(response, command, urls)
        elif isinstance(command, Hangup):
            response.hangup()
        else:
            raise TypeError(f"not a command: {command!r}")
        ended = command
    for prompt in pending:
        _prompt(response, prompt)
    if ended is None:
        response.hangup()
    return response.to_xml()


def render_apology(says: Iterable[Say], fallback_number: str | None) -> str:
    """The safe route when a turn cannot be served: apologise, then ring a person or hang up."""
    response = VoiceResponse()
    for say in says:
        _prompt(response, say)
    if fallback_number:
        response.dial(answer_on_bridge=True).number(fallback_number)
    # Without an action, Twilio continues after <Dial> when it ends: make that the end.
    response.hangup()
    return response.to_xml()


def render_whisper(say: Say, accept_url: str, timeout: int = 10) -> str:
    """The coordinator's leg before the bridge: hear who is calling, press 1 to take the call.

    No key (or the Gather ending any other way) falls through to Hangup, which declines
    this leg only; the caller keeps ringing the others or goes on to the Dial's action.
    """
    response = VoiceResponse()
    gather = response.gather(action=accept_url, method="POST", num_digits=1, timeout=timeout)
    _prompt(gather, say)
    response.hangup()
    return response.to_xml()


def render_accept(accepted: bool, details: Say | None = None) -> str:
    """After the coordinator's key: Hangup declines; otherwise the details (if any) are said to the
    coordinator, and the end of the document bridges the call."""
    response = VoiceResponse()
    if not accepted:
        response.hangup()
    elif details is not None:
        _prompt(response, details)
    return response.to_xml()
