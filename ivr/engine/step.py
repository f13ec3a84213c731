"""The call engine: `step(flow, state, event) -> (state, commands)`, and nothing else.

Theory of operation
-------------------
A call is always either waiting at one node (a menu, a question, a section of a
read-out, a transfer or a recording) or ended. Each event is answered by walking
the flow from where the call waits until it reaches the next node that waits,
collecting what the caller hears on the way, so one input yields one complete
response. Walking is bounded (`MAX_STEPS`); a call caught in a loop, or waiting at
a node that no longer exists, is apologised to and sent to a person.

Global keys (repeat, back, operator) are handled here, at every waiting node,
unless the node itself gives the key a meaning. Silence and wrong keys count as
tries; past the node's retries the caller goes to its `on_fail` node.

Languages: a call whose flow lets callers choose (an option sets `lang`) speaks every
language until the caller has chosen, system phrases included; a call that arrives with
its language (a line of one language) speaks only that one and skips the menu that would
ask for it.

The engine does no I/O and reads no clock: time arrives with the event. State is
small plain data (`CallState.to_dict`) so any store can keep it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Any

import msgspec

from ivr.engine import trail
from ivr.engine.commands import Command, Dial, Effect, Gather, Hangup, Pause, Play, Prompt, Record, Say
from ivr.engine.events import CallStarted, DialDone, Digits, Event, NoInput, RecordingDone
from ivr.flows import speech, templates, validators
from ivr.flows.actions import ACTIONS
from ivr.flows.messages import LANGUAGE_NAMES
from ivr.flows.model import (ActionNode, AnyNode, AskNode, DecideNode, Flow, HangupNode, MenuNode, Option, RecordNode,
                             SayNode, Text, TransferNode)
from ivr.flows.teams import candidates, is_open, next_opening

STATE_VERSION = 1
LINE, CALLER = "line", "caller"  # CallState.chosen: the language came with the call, or the caller chose it
MAX_STEPS = 60  # nodes walked in one turn before the walk counts as a loop
MAX_HISTORY = 20
MAX_DIAL_NUMBERS = 10  # Twilio rings at most ten numbers at once
ANSWERED = frozenset({"completed", "answered"})
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
# What Twilio sends as From when the number is withheld: ANONYMOUS, UNAVAILABLE, RESTRICTED,
# UNKNOWN and BLOCKED spelled on a keypad. They look like numbers but ring nobody.
WITHHELD = frozenset({"+266696687", "+86282452253", "+7378742833", "+8656696", "+2562533"})


class CallState(msgspec.Struct, rename={
        "version": "v", "flow": "f", "flow_version": "fv", "lang": "l", "node": "n", "section": "s",
        "pending": "pe", "tries": "t", "answers": "a", "history": "h", "turn": "tu", "ended": "e", "call": "c",
        "tried": "tr", "chosen": "lc"}):
    """Where one call stands, as plain data (stored as compact JSON with the schema version)."""

    flow: str
    flow_version: str
    lang: str
    node: str | None = None
    section: int = 0  # the section of a read-out the call is at
    pending: str | None = None  # an entry being read back for confirmation
    tries: int = 0
    answers: dict[str, str] = {}
    history: list[str] = []
    turn: int = 0
    ended: bool = False
    call: str = ""
    tried: list[str] = []  # members already rung by a transfer that hunts
    chosen: str = ""  # who set the language: "" nobody yet, LINE (the call came with it), CALLER (a key)
    version: int = STATE_VERSION

    def copy(self) -> CallState:
        """A copy safe to change."""
        return msgspec.structs.replace(self, answers=dict(self.answers), history=list(self.history),
                                       tried=list(self.tried))


_STATE_DECODER = msgspec.json.Decoder(CallState)


def encode_state(state: CallState) -> bytes:
    """The state as compact JSON."""
    return msgspec.json.encode(state)


def decode_state(blob: bytes) -> CallState:
    """Inverse of encode_state; ValueError for another schema version or a bad shape."""
    try:
        state = _STATE_DECODER.decode(blob)
    except msgspec.DecodeError as exc:
        raise ValueError(f"call state has a bad shape: {exc}") from None
    if state.version != STATE_VERSION:
        raise ValueError(f"call state of an unknown schema version ({state.version})")
    return state


# What a template may read that is not the caller's: the context's own names besides the answers.
IMPERSONAL = frozenset({"lang", "today", "business_days_until", "is_open", "team_hours"})


class NeedsStaff(Exception):
    """The turn rings someone and its event came without `staff`: step again with it.

    Who is away and who last took a call is only read from the store for the turns that need it.
    """


class Phase(Enum):
    """What a call waiting at a node waits for; derived from the node and the state, never stored."""

    CHOOSING = "choosing"  # a menu
    ANSWERING = "answering"  # a question
    CONFIRMING = "confirming"  # a question reading an entry back: 1 yes, 2 no
    READING = "reading"  # a read-out in sections: 1 repeat, 2 next
    RINGING = "ringing"  # a transfer
    RECORDING = "recording"  # a voice message


def phase_of(node: AnyNode, state: CallState) -> Phase | None:
    """The phase of a call waiting at a node (None for a node that never waits)."""
    match node:
        case MenuNode():
            return Phase.CHOOSING
        case AskNode():
            return Phase.CONFIRMING if state.pending is not None else Phase.ANSWERING
        case SayNode():
            return Phase.READING
        case TransferNode():
            return Phase.RINGING
        case RecordNode():
            return Phase.RECORDING
    return None


def new_state(flow: Flow, lang: str | None = None) -> CallState:
    """The state of a call that has not started yet (`lang`: the language it comes with, if any)."""
    given = lang if lang is not None and lang in flow.languages else None
    return CallState(flow=flow.id, flow_version=flow.version, lang=given or flow.languages[0],
                     chosen=LINE if given or not flow.chooses_language else "")


Turned = tuple[CallState, tuple[Command, ...], tuple[trail.Happening, ...]]


def step(flow: Flow, state: CallState | None, event: Event) -> Turned:
    """Advance one call by one event: the new state, the commands to perform, and what happened."""
    if isinstance(event, CallStarted) or state is None:
        state = new_state(flow, getattr(event, "lang", None))
        state.call = getattr(event, "call", "")
        caller = getattr(event, "caller", None) or ""
        state.answers["caller_id"] = caller if E164.match(caller) and caller not in WITHHELD else ""
        turn = _Turn(flow, state, event)
        turn.walk(flow.start)
    else:
        st = state.copy()
        st.turn += 1
        st.flow_version = flow.version  # the version this turn really ran on
        turn = _Turn(flow, st, event)
        turn.handle()
    return turn.st, tuple(turn.out), tuple(turn.happened)


def walk_from(flow: Flow, state: CallState, node_id: str, event: Event) -> Turned:
    """Continue a call from any node, as if the flow had led there (for tools and tests)."""
    turn = _Turn(flow, state.copy(), event)
    turn.walk(node_id)
    return turn.st, tuple(turn.out), tuple(turn.happened)


class _Turn:
    """The work of one step: mutates its own copy of the state, collects commands and events."""

    def __init__(self, flow: Flow, st: CallState, event: Event):
        self.flow = flow
        self.st = st
        self.event = event
        self.now = event.now.astimezone(flow.calendar.zone)  # "today" is the line's, whatever zone the event has
        self.out: list[Command] = []
        self.happened: list[trail.Happening] = []
        self.steps = 0
        self.guarded = False

    # -- speaking ------------------------------------------------------------------
    def context(self, lang: str | None = None) -> dict:
        """What templates and conditions may read: constants, answers, the language, today, and whether
        a team is open and its hours (spoken in the language)."""
        lang = lang or self.st.lang
        return {**self.flow.values, **self.st.answers, "lang": lang, "today": self.now.date().isoformat(),
                "business_days_until": self.business_days_until, "is_open": self.is_open,
                "team_hours": lambda team: self.team_hours(team, lang)}

    def is_open(self, team_id) -> bool:
        """Whether a team takes calls now (False for a team the flow does not know)."""
        team = self.flow.teams.get(str(team_id))
        return team is not None and is_open(self.flow.calendar, team, self.now)

    def team_hours(self, team_id, lang: str) -> str:
        """A team's weekly hours in words ("" for a team the flow does not know)."""
        team = self.flow.teams.get(str(team_id))
        return speech.hours_spoken(team.hours, lang) if team is not None else ""

    def business_days_until(self, iso_date) -> int:
        """Business days after today up to and including a saved date (-1 for a date that is not one)."""
        try:
            end = date.fromisoformat(str(iso_date))
        except ValueError:
            return -1
        return self.flow.calendar.business_days_after(self.now.date(), end)

    def says(self, text: Text, value: Callable[[str], str] | None = None, every: bool = False) -> list[Say]:
        """Text as speech in the call's language, or in each of the flow's languages in turn: until the
        caller has chosen, or for `every` unless the call came with its language.

        `value(lang)` fills the text's {value} (a read-back, an opening time) in each language."""
        out = []
        chosen = self.st.chosen
        for lang in self.flow.languages if not chosen or (every and chosen != LINE) else (self.st.lang,):
            source = text.get(lang)
            template = value is None and templates.is_template(source)
            # Made from the caller's answers (a read-back, a template reading one): kept by no cache.
            personal = value is not None or (template and self.reads_answers(source))
            if value is not None:  # a read-back: the entry goes where the message says {value}
                spoken = source.replace("{value}", value(lang))
            else:
                spoken = templates.render(source, self.context(lang)) if template else source
            out.append(Say(spoken, self.flow.voices[lang], self.flow.speech_languages[lang], personal))
        return out

    def reads_answers(self, source: str) -> bool:
        """Whether a template reads anything but the flow's constants, the language, the date and the teams."""
        return any(name not in IMPERSONAL and name not in self.flow.values for name in templates.names_read(source))

    @staticmethod
    def taglines(node: SayNode | MenuNode) -> list[Say | Play]:
        """A node's lines in other languages, each in its own voice (or played)."""
        return [Play(t.url) if t.url else Say(t.text or "", t.voice or "", t.language or "") for t in node.taglines]

    def message(self, name: str) -> Text:
        return self.flow.messages[name]

    def end(self, goodbye: Text | None = None) -> None:
        if goodbye is not None:
            self.out.extend(self.says(goodbye))
        self.out.append(Hangup())
        self.happened.append(trail.CallEnded(self.st.node))
        self.st.ended = True
        self.st.node = None
        self.st.pending = None

    # -- handling an event at the waiting node ----------------------------------------
    def handle(self) -> None:
        """Answer the event where the call waits: HANDLERS picks the handler by (phase, event)."""
        st = self.st
        if st.ended:
            self.out.append(Hangup())
            return
        node = self.flow.node(st.node)
        if node is None:
            self.apologise("missing-node")
            return
        phase = phase_of(node, st)
        handler = HANDLERS.get((phase, type(self.event))) if phase is not None else None
        if handler is None:  # an event this node does not expect: ask again
            self.present(node)
        elif not (isinstance(self.event, Digits) and self.global_key(node, self.event.digits)):
            handler(self, node)  # keys a node takes; repeat, back and operator were handled above

    def on_no_input(self, node) -> None:
        self.fail(node, "no_input")

    def on_no_answer(self, node: AskNode) -> None:
        if node.optional:  # nothing entered is an answer too
            self.save(node, "")
        else:
            self.fail(node, "no_input")

    def on_menu_keys(self, node: MenuNode) -> None:
        digits = self.digits()
        option = node.options.get(digits)
        if option is None:
            self.fail(node, "reprompt")
        else:
            self.apply(option.sets)
            self.walk(option.next)

    def on_answer(self, node: AskNode) -> None:
        digits = self.digits()
        value: str | None
        if node.expect == "yesno":
            value = {"1": "yes", "2": "no"}.get(digits)
        elif node.expect == "choice":
            value = node.choices.get(digits)
        else:
            value = self.check_digits(node, digits)
        if value is None:
            self.fail(node, "reprompt" if node.expect != "digits" else validators.problem(node.validate, digits, self.now))
        elif node.readback:
            self.st.pending = value
            self.present(node)
        else:
            self.save(node, value)

    def on_confirm(self, node: AskNode) -> None:
        digits = self.digits()
        if digits == "1" and self.st.pending is not None:
            self.save(node, self.st.pending)
        elif digits == "2":
            self.present(node, fresh=True)
        else:
            self.fail(node, "reprompt")

    def on_section_keys(self, node: SayNode) -> None:
        digits = self.digits()
        if digits == "1":
            self.present(node)
        elif digits == "2":
            self.next_section(node)
        else:
            self.fail(node, "reprompt")

    def on_section_silence(self, node: SayNode) -> None:
        self.next_section(node)

    def on_recording(self, node: RecordNode) -> None:
        event = self.event
        assert isinstance(event, RecordingDone)
        self.st.answers[node.save] = event.url
        self.st.answers[f"{node.save}_seconds"] = str(event.duration)
        self.happened.append(trail.AnswerSaved(node.id, node.save))
        self.walk_next(node.next)

    def on_silent_recording(self, node: RecordNode) -> None:
        self.walk_next(node.silent or node.next)  # nothing was recorded

    def digits(self) -> str:
        event = self.event
        assert isinstance(event, Digits)
        return event.digits

    def claimed(self, node) -> frozenset[str] | None:
        """Keys a node gives a meaning of its own (None: any single key may be an answer)."""
        if isinstance(node, MenuNode):
            return frozenset(node.options)
        if isinstance(node, SayNode) or self.st.pending is not None or node.expect == "yesno":
            return frozenset("12")
        if node.expect == "choice":
            return frozenset(node.choices)
        return None if node.min_length <= 1 else frozenset()

    def global_key(self, node, digits: str) -> bool:
        claimed = self.claimed(node)
        if claimed is None or digits in claimed:
            return False
        keys = self.flow.keys
        if digits == keys.repeat:
            self.present(node)
        elif digits == keys.back:
            self.back(node)
        elif digits == keys.operator and self.flow.operator:
            self.walk(self.flow.operator)
        else:
            return False
        return True

    def back(self, node) -> None:
        history = self.st.history
        if len(history) >= 2 and history[-1] == node.id:
            history.pop()
            target = self.flow.node(history[-1])
        else:
            target = node
        self.present(target or node, fresh=True)

    def check_digits(self, node: AskNode, digits: str) -> str | None:
        if not digits.isdigit() or not node.min_length <= len(digits) <= node.max_length:
            return None
        if node.validate is None:
            return digits
        return validators.VALIDATORS[node.validate](digits, self.now)

    def save(self, node: AskNode, value: str) -> None:
        self.st.answers[node.save] = value
        self.happened.append(trail.AnswerSaved(node.id, node.save))
        self.walk_next(node.next)

    def fail(self, node, kind: str) -> None:
        st = self.st
        st.tries += 1
        if st.tries > node.wait.retries:
            self.happened.append(trail.TriesExhausted(node.id))
            self.out.extend(self.says(self.message("too_many_tries")))
            target = node.wait.on_fail or self.flow.operator
            if target:
                self.walk(target)
            else:
                self.end(self.message("call_back_later"))
            return
        self.happened.append(trail.Reprompted(node.id, kind))
        prefix = node.wait.reprompt if kind != "no_input" and node.wait.reprompt else self.message(kind)
        self.present(node, prefix=prefix)

    def next_section(self, node: SayNode) -> None:
        if self.st.section + 1 < len(node.sections):
            self.st.section += 1
            self.st.tries = 0
            self.present(node)
        else:
            self.walk_next(node.next)

    def on_dial(self, node: TransferNode) -> None:
        event = self.event
        assert isinstance(event, DialDone)
        bridged = event.bridged if event.bridged is not None else event.status in ANSWERED
        self.happened.append(trail.TransferEnded(node.id, node.team, event.status, bridged))
        if bridged or event.status == "canceled":  # canceled: the caller hung up while it rang
            self.end()
        elif self.flow.teams[node.team].strategy == "hunt" and self.members(node):
            self.out.extend(self.says(self.message("still_trying")))
            self.dial(node)
        else:
            self.give_up(node, node.no_answer, "no_one_available")

    def give_up(self, node: TransferNode, target: str | None, message: str) -> None:
        """Nobody to connect to: on to the flow's route for it, or an apology and goodbye."""
        self.st.tried = []
        if target:
            self.walk(target)
        else:
            self.end(self.message(message))

    # -- walking ---------------------------------------------------------------------
    def apply(self, sets) -> None:
        for name, value in sets:
            if name == "lang":
                if value in self.flow.languages:
                    if value != self.st.lang or not self.st.chosen:
                        self.happened.append(trail.LanguageChosen(value))
                    self.st.lang = value
                    self.st.chosen = CALLER
            else:
                self.st.answers[name] = value

    def walk_next(self, node_id: str | None) -> None:
        if node_id is None:
            self.end()
        else:
            self.walk(node_id)

    def walk(self, node_id: str) -> None:
        """Follow the flow from `node_id` until a node waits or the call ends."""
        while True:
            self.steps += 1
            node = self.flow.node(node_id)
            if self.steps > MAX_STEPS or node is None:
                self.apologise("loop" if node is not None else "missing-node")
                return
            match node:
                case SayNode() if len(node.sections) == 1:
                    self.out.extend(self.says(node.sections[0], every=node.every_language))
                    if node.taglines:
                        self.out.extend(self.taglines(node))
                    if node.next is None:
                        self.end()
                        return
                    node_id = node.next
                case MenuNode() if (preset := self.preset_language(node)) is not None:
                    self.apply(preset.sets)  # the call came with its language: no need to ask for it
                    self.st.chosen = LINE
                    node_id = preset.next
                case SayNode() | MenuNode() | AskNode():
                    self.enter(node)
                    return
                case DecideNode():
                    node_id = self.decide(node)
                case TransferNode():
                    self.transfer(node)
                    return
                case RecordNode():
                    self.wait_at(node)
                    self.out.extend(self.says(node.prompt))
                    self.out.append(Record(max_length=node.max_length, timeout=node.timeout))
                    return
                case ActionNode():
                    self.action(node)
                    if node.next is None:
                        self.end()
                        return
                    node_id = node.next
                case HangupNode():
                    self.end(node.say)
                    return

    def preset_language(self, node: MenuNode) -> Option | None:
        """The option of a language menu that picks the language a call came with, if it has one."""
        if self.st.chosen != LINE:
            return None
        return next((opt for opt in node.options.values() if ("lang", self.st.lang) in opt.sets), None)

    def action(self, node: ActionNode) -> None:
        """Request a side effect; the answers its action saves (a confirmation number) are known at once."""
        key = f"{self.flow.id}:{node.id}:{self.st.turn}:{self.steps}"
        saved = ACTIONS[node.action].answers(self.st.call, key)
        self.st.answers.update(saved)
        context = self.context()
        params = [(k, templates.render(v, context)) for k, v in node.params]
        told = self.told_coordinators()
        if told:  # a message left for a team says first what its coordinators would have heard
            params = [(k, f"{told} {v}" if k == "summary" else v) for k, v in params]
        params.append(("lang", self.st.lang))
        params.extend(saved.items())
        self.out.append(Effect(action=node.action, key=key, params=tuple(params)))
        self.happened.append(trail.ActionRequested(node.id, node.action))

    def told_coordinators(self) -> str:
        """The whisper of the last transfer the call reached, in the flow's first language ("" if none)."""
        transfer = self.flow.node(self.st.answers.get("transfer_node"))
        if not isinstance(transfer, TransferNode) or transfer.whisper is None:
            return ""
        lang = self.flow.languages[0]
        return templates.render(transfer.whisper.get(lang), self.context(lang))

    def decide(self, node: DecideNode) -> str:
        context = self.context()
        for branch in node.branches:
            try:
                matched = templates.evaluate(branch.when, context)
            except Exception:  # a condition that cannot be evaluated does not match
                matched = False
            if matched:
                self.apply(branch.sets)
                self.happened.append(trail.Decided(node.id, branch.next))
                return branch.next
        self.apply(node.default_sets)
        self.happened.append(trail.Decided(node.id, node.default))
        return node.default

    def transfer(self, node: TransferNode) -> None:
        """Arrive at a transfer: closed, nobody free, or ring."""
        team = self.flow.teams[node.team]
        self.st.tried = []
        self.st.answers["transfer_team"] = node.team
        self.st.answers["transfer_node"] = node.id
        if not is_open(self.flow.calendar, team, self.now):
            self.happened.append(trail.TeamUnavailable(node.id, node.team, "closed"))
            self.out.extend(self.says(self.message("team_closed")))
            if team.hours is not None:
                self.out.extend(self.says(self.message("team_hours"),
                                          value=lambda lang: speech.hours_spoken(team.hours, lang)))
            opening = next_opening(self.flow.calendar, team, self.now)
            if opening is not None:
                self.out.extend(self.says(self.message("team_opens"),
                                          value=lambda lang: speech.opening_spoken(opening, self.now, lang)))
            self.give_up(node, node.closed or node.no_answer, "no_one_available")
            return
        if not self.members(node):
            self.happened.append(trail.TeamUnavailable(node.id, node.team, "nobody"))
            self.give_up(node, node.no_answer, "no_one_available")
            return
        if node.announce is not None:
            self.out.extend(self.says(node.announce))
        self.dial(node)

    def members(self, node: TransferNode) -> tuple:
        """Who may still be rung: the caller's language first; a team that hunts, longest idle first."""
        team = self.flow.teams[node.team]
        staff = self.event.staff
        if staff is None:
            raise NeedsStaff
        found = candidates(team, self.st.lang, staff.away, tuple(self.st.tried))
        if team.strategy != "hunt" or not staff.last_answered:
            return found
        answered = dict(staff.last_answered)
        return tuple(sorted(found, key=lambda m: (self.st.lang not in m.languages, answered.get(m.phone, 0.0))))

    def dial(self, node: TransferNode) -> None:
        team = self.flow.teams[node.team]
        members = self.members(node)
        members = members[:1] if team.strategy == "hunt" else members[:MAX_DIAL_NUMBERS]
        self.wait_at(node)
        self.st.tried = [*self.st.tried, *(m.name for m in members)] if team.strategy == "hunt" else []
        self.out.append(Dial(team=node.team, numbers=tuple(m.phone for m in members),
                             timeout=node.timeout or team.ring_seconds,
                             language=self.flow.speech_languages[self.st.lang], whisper=self.whisper(node),
                             details=self.details(node)))
        self.happened.append(trail.TransferRang(node.id, node.team, len(members)))

    def whisper(self, node: TransferNode) -> tuple[tuple[str, str], ...]:
        """What a coordinator hears first, in each of the flow's languages."""
        out = []
        for lang in self.flow.languages:
            names = LANGUAGE_NAMES.get(lang, LANGUAGE_NAMES["en"])
            if self.st.chosen:
                intro = self.message("whisper_intro").get(lang).replace("{value}", names.get(self.st.lang, self.st.lang))
            else:
                intro = self.message("whisper_no_language").get(lang)
            parts = [intro]
            if node.whisper is not None:
                parts.append(templates.render(node.whisper.get(lang), self.context(lang)))
            if node.details is not None:
                parts.append(self.message("whisper_details").get(lang))
            parts.append(self.message("whisper_accept").get(lang))
            out.append((lang, " ".join(p for p in parts if p)))
        return tuple(out)

    def details(self, node: TransferNode) -> tuple[tuple[str, str], ...]:
        """What the coordinator who accepted hears before the caller is put through, in each language."""
        if node.details is None:
            return ()
        return tuple((lang, templates.render(node.details.get(lang), self.context(lang))) for lang in self.flow.languages)

    def wait_at(self, node) -> None:
        st = self.st
        if st.node != node.id or st.ended:
            self.happened.append(trail.Entered(node.id, node.kind))
        st.node, st.section, st.pending, st.tries = node.id, 0, None, 0

    def enter(self, node) -> None:
        """Arrive at a node that waits for keys."""
        self.wait_at(node)
        if not isinstance(node, SayNode) and (not self.st.history or self.st.history[-1] != node.id):
            self.st.history.append(node.id)
            del self.st.history[:-MAX_HISTORY]
        self.present(node)

    def present(self, node, prefix: Text | None = None, fresh: bool = False) -> None:
        """Ask (again) for keys at a node; `fresh` starts the question over."""
        st = self.st
        if fresh:
            tries = st.tries
            self.wait_at(node)
            st.tries = tries
        if isinstance(node, (TransferNode, RecordNode)):
            self.walk(node.id)
            return
        every = getattr(node, "every_language", False)
        prompts: list[Prompt] = list(self.says(prefix, every=every)) if prefix is not None else []
        num_digits: int | None = 1
        finish = "#"
        if isinstance(node, SayNode):
            last = st.section + 1 >= len(node.sections)
            prompts += self.says(node.sections[min(st.section, len(node.sections) - 1)], every=every)
            prompts += self.says(self.message("section_last" if last else "section_next"), every=every)
        elif isinstance(node, MenuNode):
            prompts += self.says(node.prompt, every=every)
            if node.taglines:
                prompts += self.taglines(node)
        elif st.pending is not None:
            pending = st.pending
            prompts += self.says(self.message("readback"),
                                 value=lambda lang: speech.readback(node.validate, pending, lang, self.now.date()))
        else:
            prompts += self.says(node.prompt)
            if node.expect == "yesno":
                prompts += self.says(self.message("yesno_hint"))
            elif node.expect == "digits":
                num_digits = node.max_length if node.min_length == node.max_length else None
                finish = node.finish_key
                if node.wait.warn_after:  # 36 CFR 1194.23(d): warn before the time runs out, offer more
                    prompts.append(Pause(node.wait.warn_after))
                    prompts += self.says(self.message("time_warning"))
        timeout = node.wait.timeout + node.wait.timeout * st.tries // 2  # more time after each miss
        st.node = node.id
        self.out.append(Gather(prompts=tuple(prompts), timeout=timeout, num_digits=num_digits, finish_on_key=finish))

    def apologise(self, why: str) -> None:
        """Something is wrong with where the call is: say sorry and reach a person."""
        self.happened.append(trail.Apologised(why))
        operator = self.flow.operator
        if self.guarded or not operator or operator not in self.flow.nodes:
            self.out.extend(self.says(self.message("apology_no_person")))  # promise no one
            self.end()
            return
        self.out.extend(self.says(self.message("apology")))
        self.guarded = True
        self.steps = 0
        self.walk(operator)


Handler = Callable[[_Turn, Any], None]  # each takes the node kind its phase waits at

# The engine's state machine: what each event does at each phase of a waiting call. An event
# a phase does not list asks again (a transfer or a recording starts over).
HANDLERS: dict[tuple[Phase, type], Handler] = {
    (Phase.CHOOSING, Digits): _Turn.on_menu_keys,
    (Phase.CHOOSING, NoInput): _Turn.on_no_input,
    (Phase.ANSWERING, Digits): _Turn.on_answer,
    (Phase.ANSWERING, NoInput): _Turn.on_no_answer,
    (Phase.CONFIRMING, Digits): _Turn.on_confirm,
    (Phase.CONFIRMING, NoInput): _Turn.on_no_input,
    (Phase.READING, Digits): _Turn.on_section_keys,
    (Phase.READING, NoInput): _Turn.on_section_silence,
    (Phase.RINGING, DialDone): _Turn.on_dial,
    (Phase.RECORDING, RecordingDone): _Turn.on_recording,
    (Phase.RECORDING, NoInput): _Turn.on_silent_recording,
}
