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

The engine does no I/O and reads no clock: time arrives with the event. State is
small plain data (`CallState.to_dict`) so any store can keep it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date

from ivr.flows import speech, validators
from ivr.flows.actions import ACTIONS
from ivr.flows.messages import LANGUAGE_NAMES
from ivr.flows.teams import candidates, is_open, next_opening
from ivr.engine.commands import Dial, Effect, Gather, Hangup, Record, Say
from ivr.engine.events import CallStarted, DialDone, Digits, Event, NoInput, RecordingDone
from ivr.flows.model import (ActionNode, AskNode, DecideNode, Flow, HangupNode, MenuNode, RecordNode, SayNode, Text,
                   TransferNode)

STATE_VERSION = 1
MAX_STEPS = 60  # nodes walked in one turn before the walk counts as a loop
MAX_HISTORY = 20
MAX_DIAL_NUMBERS = 10  # Twilio rings at most ten numbers at once
ANSWERED = frozenset({"completed", "answered"})
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
# What Twilio sends as From when the number is withheld: ANONYMOUS, UNAVAILABLE, RESTRICTED,
# UNKNOWN and BLOCKED spelled on a keypad. They look like numbers but ring nobody.
WITHHELD = frozenset({"+266696687", "+86282452253", "+7378742833", "+8656696", "+2562533"})


@dataclass(slots=True)
class CallState:
    """Where one call stands, as plain data."""

    flow: str
    flow_version: str
    lang: str
    node: str | None = None
    phase: str = ""  # "" asking, "confirm" reading an entry back, "section" in a read-out
    section: int = 0
    pending: str | None = None
    tries: int = 0
    answers: dict[str, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    turn: int = 0
    ended: bool = False
    call: str = ""
    tried: list[str] = field(default_factory=list)  # members already rung by a transfer that hunts

    def copy(self) -> CallState:
        """A copy safe to change."""
        return replace(self, answers=dict(self.answers), history=list(self.history), tried=list(self.tried))

    def to_dict(self) -> dict:
        """Compact JSON-able form, with the schema version."""
        return {"v": STATE_VERSION, "f": self.flow, "fv": self.flow_version, "l": self.lang, "n": self.node,
                "p": self.phase, "s": self.section, "pe": self.pending, "t": self.tries, "a": self.answers,
                "h": self.history, "tu": self.turn, "e": self.ended, "c": self.call, "tr": self.tried}

    @classmethod
    def from_dict(cls, data: dict) -> CallState:
        """Rebuild from `to_dict`; ValueError for another schema version or a bad shape."""
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            raise ValueError("call state of an unknown schema version")
        try:
            return cls(flow=str(data["f"]), flow_version=str(data["fv"]), lang=str(data["l"]), node=data["n"],
                       phase=str(data["p"]), section=int(data["s"]), pending=data["pe"], tries=int(data["t"]),
                       answers=dict(data["a"]), history=list(data["h"]), turn=int(data["tu"]),
                       ended=bool(data["e"]), call=str(data.get("c", "")), tried=list(data.get("tr", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"call state has a bad shape: {exc}") from None


def new_state(flow: Flow, lang: str | None = None) -> CallState:
    """The state of a call that has not started yet."""
    return CallState(flow=flow.id, flow_version=flow.version,
                     lang=lang if lang in flow.languages else flow.languages[0])


def step(flow: Flow, state: CallState | None, event: Event) -> tuple[CallState, tuple]:
    """Advance one call by one event; returns the new state and the commands to perform."""
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
    return turn.st, tuple(turn.out)


def walk_from(flow: Flow, state: CallState, node_id: str, event: Event) -> tuple[CallState, tuple]:
    """Continue a call from any node, as if the flow had led there (for tools and tests)."""
    turn = _Turn(flow, state.copy(), event)
    turn.walk(node_id)
    return turn.st, tuple(turn.out)


class _Turn:
    """The work of one step: mutates its own copy of the state, collects commands."""

    def __init__(self, flow: Flow, st: CallState, event: Event):
        self.flow = flow
        self.st = st
        self.event = event
        self.out: list = []
        self.steps = 0
        self.guarded = False

    # -- speaking ------------------------------------------------------------------
    def context(self, lang: str | None = None) -> dict:
        """What templates and conditions may read: constants, answers, the language, today."""
        return {**self.flow.values, **self.st.answers, "lang": lang or self.st.lang,
                "today": self.event.now.date().isoformat(), "business_days_until": self.business_days_until}

    def business_days_until(self, iso_date) -> int:
        """Business days after today up to and including a saved date (-1 for a date that is not one)."""
        try:
            end = date.fromisoformat(str(iso_date))
        except ValueError:
            return -1
        return self.flow.calendar.business_days_after(self.event.now.date(), end)

    def says(self, text: Text, value: str | None = None, every: bool = False) -> list[Say]:
        """Text as speech in the call's language, or in each of the flow's languages in turn."""
        langs = self.flow.languages if every else (self.st.lang,)
        out = []
        for lang in langs:
            source = text.get(lang)
            if value is None:
                spoken = speech.render(source, self.context(lang)) if speech.is_template(source) else source
            else:  # a read-back: the entry goes where the message says {value}
                spoken = source.replace("{value}", value)
            out.append(Say(spoken, self.flow.voices[lang], self.flow.speech_languages[lang]))
        return out

    def message(self, name: str) -> Text:
        return self.flow.messages[name]

    def end(self, goodbye: Text | None = None) -> None:
        if goodbye is not None:
            self.out.extend(self.says(goodbye))
        self.out.append(Hangup())
        self.st.ended = True
        self.st.node = None
        self.st.phase = ""

    # -- handling an event at the waiting node ----------------------------------------
    def handle(self) -> None:
        st, event = self.st, self.event
        if st.ended:
            self.out.append(Hangup())
            return
        node = self.flow.node(st.node)
        if node is None:
            self.apologise()
        elif isinstance(event, (Digits, NoInput)) and isinstance(node, (MenuNode, AskNode, SayNode)):
            self.on_keys(node, event.digits if isinstance(event, Digits) else None)
        elif isinstance(event, DialDone) and isinstance(node, TransferNode):
            self.on_dial(node, event)
        elif isinstance(event, RecordingDone) and isinstance(node, RecordNode):
            st.answers[node.save] = event.url
            st.answers[f"{node.save}_seconds"] = str(event.duration)
            self.walk_next(node.next)
        elif isinstance(event, NoInput) and isinstance(node, RecordNode):
            self.walk_next(node.silent or node.next)  # nothing was recorded
        else:
            self.present(node)

    def on_keys(self, node, digits: str | None) -> None:
        if digits is None:
            if isinstance(node, SayNode) and self.st.phase == "section":
                self.next_section(node)
            else:
                self.fail(node, "no_input")
            return
        if self.global_key(node, digits):
            return
        if isinstance(node, MenuNode):
            option = node.options.get(digits)
            if option is None:
                self.fail(node, "reprompt")
            else:
                self.apply(option.sets)
                self.walk(option.next)
        elif isinstance(node, AskNode):
            self.on_answer(node, digits)
        elif digits == "1":
            self.present(node)
        elif digits == "2":
            self.next_section(node)
        else:
            self.fail(node, "reprompt")

    def claimed(self, node) -> frozenset[str] | None:
        """Keys a node gives a meaning of its own (None: any single key may be an answer)."""
        if isinstance(node, MenuNode):
            return frozenset(node.options)
        if isinstance(node, SayNode) or self.st.phase == "confirm" or node.expect == "yesno":
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

    def on_answer(self, node: AskNode, digits: str) -> None:
        st = self.st
        if st.phase == "confirm":
            if digits == "1" and st.pending is not None:
                self.save(node, st.pending)
            elif digits == "2":
                self.present(node, fresh=True)
            else:
                self.fail(node, "reprompt")
            return
        if node.expect == "yesno":
            value = {"1": "yes", "2": "no"}.get(digits)
        elif node.expect == "choice":
            value = node.choices.get(digits)
        else:
            value = self.check_digits(node, digits)
        if value is None:
            self.fail(node, "reprompt" if node.expect != "digits" else "invalid_entry")
        elif node.readback:
            st.phase, st.pending = "confirm", value
            self.present(node)
        else:
            self.save(node, value)

    def check_digits(self, node: AskNode, digits: str) -> str | None:
        if not digits.isdigit() or not node.min_length <= len(digits) <= node.max_length:
            return None
        if node.validate is None:
            return digits
        return validators.VALIDATORS[node.validate](digits, self.event.now)

    def save(self, node: AskNode, value: str) -> None:
        self.st.answers[node.save] = value
        self.walk_next(node.next)

    def fail(self, node, kind: str) -> None:
        st = self.st
        st.tries += 1
        if st.tries > node.wait.retries:
            self.out.extend(self.says(self.message("too_many_tries")))
            target = node.wait.on_fail or self.flow.operator
            if target:
                self.walk(target)
            else:
                self.end(self.message("goodbye"))
            return
        prefix = node.wait.reprompt if kind != "no_input" and node.wait.reprompt else self.message(kind)
        self.present(node, prefix=prefix)

    def next_section(self, node: SayNode) -> None:
        if self.st.section + 1 < len(node.sections):
            self.st.section += 1
            self.st.tries = 0
            self.present(node)
        else:
            self.walk_next(node.next)

    def on_dial(self, node: TransferNode, event: DialDone) -> None:
        bridged = event.bridged if event.bridged is not None else event.status in ANSWERED
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
                    self.st.lang = value
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
                self.apologise()
                return
            match node:
                case SayNode() if len(node.sections) == 1:
                    self.out.extend(self.says(node.sections[0], every=node.every_language))
                    if node.next is None:
                        self.end()
                        return
                    node_id = node.next
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

    def action(self, node: ActionNode) -> None:
        """Request a side effect; the answers its action saves (a confirmation number) are known at once."""
        key = f"{self.flow.id}:{node.id}:{self.st.turn}:{self.steps}"
        saved = ACTIONS[node.action].answers(self.st.call, key)
        self.st.answers.update(saved)
        context = self.context()
        params = [(k, speech.render(v, context)) for k, v in node.params]
        params.append(("lang", self.st.lang))
        params.extend(saved.items())
        self.out.append(Effect(action=node.action, key=key, params=tuple(params)))

    def decide(self, node: DecideNode) -> str:
        context = self.context()
        for branch in node.branches:
            try:
                matched = speech.evaluate(branch.when, context)
            except Exception:  # a condition that cannot be evaluated does not match
                matched = False
            if matched:
                self.apply(branch.sets)
                return branch.next
        self.apply(node.default_sets)
        return node.default

    def transfer(self, node: TransferNode) -> None:
        """Arrive at a transfer: closed, nobody free, or ring."""
        team = self.flow.teams[node.team]
        self.st.tried = []
        self.st.answers["transfer_team"] = node.team
        if not is_open(self.flow.calendar, team, self.event.now):
            self.out.extend(self.says(self.message("team_closed")))
            opening = next_opening(self.flow.calendar, team, self.event.now)
            if opening is not None:
                when = speech.opening_spoken(opening, self.event.now, self.st.lang)
                self.out.extend(self.says(self.message("team_opens"), value=when))
            self.give_up(node, node.closed or node.no_answer, "goodbye")
            return
        if not self.members(node):
            self.give_up(node, node.no_answer, "no_one_available")
            return
        if node.announce is not None:
            self.out.extend(self.says(node.announce))
        self.dial(node)

    def members(self, node: TransferNode) -> tuple:
        """Who may still be rung: the caller's language first; a team that hunts, longest idle first."""
        team = self.flow.teams[node.team]
        staff = self.event.staff
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
                             language=self.flow.speech_languages[self.st.lang], whisper=self.whisper(node)))

    def whisper(self, node: TransferNode) -> tuple[tuple[str, str], ...]:
        """What a coordinator hears first, in each of the flow's languages."""
        out = []
        for lang in self.flow.languages:
            names = LANGUAGE_NAMES.get(lang, LANGUAGE_NAMES["en"])
            parts = [self.message("whisper_intro").get(lang).replace("{value}", names.get(self.st.lang, self.st.lang))]
            if node.whisper is not None:
                parts.append(speech.render(node.whisper.get(lang), self.context(lang)))
            parts.append(self.message("whisper_accept").get(lang))
            out.append((lang, " ".join(p for p in parts if p)))
        return tuple(out)

    def wait_at(self, node) -> None:
        st = self.st
        st.node, st.phase, st.section, st.pending, st.tries = node.id, "", 0, None, 0

    def enter(self, node) -> None:
        """Arrive at a node that waits for keys."""
        self.wait_at(node)
        if isinstance(node, SayNode):
            self.st.phase = "section"
        elif not self.st.history or self.st.history[-1] != node.id:
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
            if isinstance(node, SayNode):
                st.phase = "section"
        if isinstance(node, (TransferNode, RecordNode)):
            self.walk(node.id)
            return
        every = getattr(node, "every_language", False)
        prompts = self.says(prefix, every=every) if prefix is not None else []
        num_digits, finish = 1, "#"
        if isinstance(node, SayNode):
            last = st.section + 1 >= len(node.sections)
            prompts += self.says(node.sections[min(st.section, len(node.sections) - 1)], every=every)
            prompts += self.says(self.message("section_last" if last else "section_next"), every=every)
        elif isinstance(node, MenuNode):
            prompts += self.says(node.prompt, every=every)
        elif st.phase == "confirm":
            spoken = validators.readback(node.validate, st.pending or "", st.lang)
            prompts += self.says(self.message("readback"), value=spoken)
        else:
            prompts += self.says(node.prompt)
            if node.expect == "yesno":
                prompts += self.says(self.message("yesno_hint"))
            elif node.expect == "digits":
                num_digits = node.max_length if node.min_length == node.max_length else None
                finish = node.finish_key
        timeout = node.wait.timeout + node.wait.timeout * st.tries // 2  # more time after each miss
        st.node = node.id
        self.out.append(Gather(prompts=tuple(prompts), timeout=timeout, num_digits=num_digits, finish_on_key=finish))

    def apologise(self) -> None:
        """Something is wrong with where the call is: say sorry and reach a person."""
        self.out.extend(self.says(self.message("apology")))
        operator = self.flow.operator
        if self.guarded or not operator or operator not in self.flow.nodes:
            self.end()
            return
        self.guarded = True
        self.steps = 0
        self.walk(operator)
