"""What the engine asks the telephone to do.

Commands are plain frozen data. The engine returns a tuple of them for each caller
input; the TwiML renderer (and the terminal phone) turn them into sound. Every
tuple ends with exactly one command that waits for the caller or the network
(`Gather`, `Dial`, `Record`) or with `Hangup`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Say:
    """Speak text with a text-to-speech voice.

    `personal` marks text made from the caller's answers (a read-back, a filled-in template):
    it must not outlive the call, so no cache keeps it.
    """

    text: str
    voice: str
    language: str
    personal: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Play:
    """Play an audio file by URL."""

    url: str


@dataclass(frozen=True, slots=True)
class Pause:
    """Stay silent for a number of seconds."""

    seconds: int


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    """Play prompts while listening for keys; ends the turn.

    `num_digits` set: the gather ends after that many keys; otherwise it ends on
    `finish_on_key` (or `timeout` seconds after the last key).
    """

    prompts: tuple[Prompt, ...]
    timeout: int
    num_digits: int | None = None
    finish_on_key: str = "#"


@dataclass(frozen=True, slots=True)
class Dial:
    """Connect the caller to a team's phones; ends the turn.

    `whisper` is what a coordinator hears before accepting, in each language a
    coordinator may prefer: (language, text) pairs holding the minimum necessary,
    never an identifier. `details` (the same shape) is what the one who accepted hears
    next, before the caller is put through: the answers a whisper must not carry.
    """

    team: str
    numbers: tuple[str, ...]
    timeout: int
    language: str
    whisper: tuple[tuple[str, str], ...] = ()
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller's voice after a beep; ends the turn."""

    max_length: int
    timeout: int = 5
    finish_on_key: str = "#"
    play_beep: bool = True


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True, slots=True)
class Effect:
    """Ask the outside world for a side effect (text message, ride hand-off).

    `key` is stable for one call and one node visit so that a repeated request
    never performs the effect twice.
    """

    action: str
    key: str
    params: tuple[tuple[str, str], ...] = field(default=())

    def params_dict(self) -> dict[str, str]:
        """The parameters as a dict."""
        return dict(self.params)


Command = Say | Play | Pause | Gather | Dial | Record | Hangup | Effect

WAITING = (Gather, Dial, Record)
