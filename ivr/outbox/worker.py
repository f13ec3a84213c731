"""The outbox: how side effects (text messages, ride hand-offs) leave the service.

A webhook never talks to the outside world while the caller waits. It writes what should
happen as outbox items in the call store (each action in `ivr.flows.actions` says which),
under ids derived from the call and the effect (`<CallSid>:<effect key>:sms`, `...:ride`),
so a retried webhook enqueues nothing new. A worker (`ivr outbox run`) claims due items,
delivers them, and marks each done, retried later (exponential backoff with jitter) or dead.

Never doubled:
- A claim leases the item (its due_at moves to the end of the lease and its attempts go
  up by one), so two workers never hold one item at once, and a worker that dies in the
  middle of a delivery leaves it to be claimed again when the lease runs out.
- That second attempt may repeat a delivery that in fact succeeded. A ride is POSTed with
  `Idempotency-Key: <item id>`, the same on every attempt, so the receiver keeps one. A
  text has no such key at Twilio: before any attempt after the first, the Messages list
  (to, from, sent since the item was queued) is searched for the same body, and a match
  completes the item without sending again.
- Retries and give-ups carry the attempt they answer: a worker whose lease ran out cannot
  overwrite what the worker that re-claimed the item decided.

What is logged and stored as notes or errors is an HTTP status, a Twilio error code or a
message SID: never a phone number, a body or a member's details.

Ride hand-off (kind `ride`): the ride request as JSON, POSTed to RIDES_WEBHOOK_URL with
`X-IVR-Timestamp: <unix seconds>` and `X-IVR-Signature: sha256=<hex>`, the HMAC-SHA256 of
`<timestamp>.<body>` keyed with RIDES_WEBHOOK_SECRET. 2xx is done; 408, 429, 5xx, timeouts
and network errors are retried (Retry-After is honoured, up to the backoff cap); any other
status is final. The URL must be https (plain http only to this machine).

Text (kind `sms`): Twilio's Messages API from TWILIO_SMS_FROM, with TWILIO_ACCOUNT_SID and
TWILIO_AUTH_TOKEN. Twilio 408/429/5xx and network errors are retried; other 4xx (a bad or
unsubscribed number) are final. The message SID is kept as the item's note.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests

from ivr.flows.actions import E164_RE, RIDE, SMS
from ivr.stores.protocols import Outbox, OutboxItem, StoreUnavailable

log = logging.getLogger("ivr.outbox")

SETTING_NAMES = ("RIDES_WEBHOOK_URL", "RIDES_WEBHOOK_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
                 "TWILIO_SMS_FROM")

MAX_ATTEMPTS = 12
BASE_DELAY = 5.0  # seconds before the second attempt; doubles each time
MAX_DELAY = 3600.0
JITTER = 0.2  # a delay is shortened by up to this fraction, at random
LEASE_SECONDS = 120.0
BATCH = 20
HTTP_TIMEOUT = (3.05, 10.0)  # connect, read (seconds)
SENT_SKEW = 300.0  # how far Twilio's clock may be behind ours when looking for a sent text
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-IVR-Signature", "X-IVR-Timestamp"

RETRY, COMPLETE, GIVE_UP = "retry", "complete", "give_up"


def settings_from(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The outbox's settings: the environment's, overridden by whatever `config` sets (the web
    app passes its config; a value that is None or empty there leaves the environment's)."""
    environ = os.environ if environ is None else environ
    values = {name: environ.get(name) or "" for name in SETTING_NAMES}
    for name in SETTING_NAMES:
        if config is not None and config.get(name):
            values[name] = str(config[name])
    return values


# --- delivering ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to: complete (with a note), retry or give_up (with an
    error). `retry_after` is a wait the other side asked for, in seconds."""

    action: str
    detail: str
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-IVR-Signature value for a body sent at a timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Deliverer:
    """Delivers outbox items by kind; holds the HTTP session and the Twilio client.

    `twilio_http_client` replaces the Twilio library's HTTP client (tests give a fake one);
    `clock` and `random` make timestamps and jitter predictable.
    """

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        twilio_http_client: Any = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        jitter: float = JITTER,
        timeout: tuple[float, float] = HTTP_TIMEOUT,
    ):
        self.settings = settings_from(settings)
        self.clock = clock
        self.random = random
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.timeout = timeout
        self._session = session
        self._twilio_http_client = twilio_http_client
        self._twilio = None

    def close(self) -> None:
        """Close the HTTP connections this deliverer opened."""
        if self._session is not None:
            self._session.close()
        http_client = getattr(self._twilio, "http_client", None)
        session = getattr(http_client, "session", None)
        if session is not None:
            session.close()

    @property
    def max_seconds(self) -> float:
        """The longest one delivery may take (a text: a search and a send)."""
        return 2 * sum(self.timeout) + 5

    def problems(self) -> list[str]:
        """What is missing or wrong in the settings, per kind (no secrets shown)."""
        found = [f"sms: {name} is not set" for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM")
                 if not self.settings[name]]
        if self.settings["RIDES_WEBHOOK_URL"]:
            found += [f"ride: {error}" for error in [self._ride_config_error()] if error]
        return found

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after a failed attempt number `attempts` (1 for the first)."""
        delay = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        delay *= 1 - self.jitter * self.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay

    def deliver(self, item: OutboxItem) -> Outcome:
        """Try to deliver an item once; the outcome says what to do with it next."""
        if item.kind == RIDE:
            return self.deliver_ride(item)
        if item.kind == SMS:
            return self.deliver_sms(item)
        return Outcome(GIVE_UP, f"unknown kind {item.kind!r}")

    # --- rides ---

    def _ride_config_error(self) -> str | None:
        url, secret = self.settings["RIDES_WEBHOOK_URL"], self.settings["RIDES_WEBHOOK_SECRET"]
        if not url:
            return "RIDES_WEBHOOK_URL is not set"
        if not secret:
            return "RIDES_WEBHOOK_SECRET is not set"
        parts = urlsplit(url)
        if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
            return None
        return "RIDES_WEBHOOK_URL must be https:// (http:// only to this machine)"

    def deliver_ride(self, item: OutboxItem) -> Outcome:
        """POST the ride request, signed, with the item id as its idempotency key."""
        problem = self._ride_config_error()
        if problem:  # a setting an operator can still fix: keep the item
            return Outcome(RETRY, problem)
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": item.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.settings["RIDES_WEBHOOK_SECRET"], timestamp, item.payload),
            "User-Agent": "ivr-outbox/1",
        }
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.post(self.settings["RIDES_WEBHOOK_URL"], data=item.payload, headers=headers,
                                          timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return Outcome(RETRY, "timeout")
        except requests.RequestException as exc:
            return Outcome(RETRY, f"network error ({type(exc).__name__})")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Outcome(COMPLETE, f"HTTP {status}")
        if status in (408, 429) or status >= 500:
            return Outcome(RETRY, f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))
        return Outcome(GIVE_UP, f"HTTP {status}")

    # --- texts ---

    def twilio(self):
        """The Twilio REST client (made on first use)."""
        if self._twilio is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            http_client = self._twilio_http_client
            if http_client is None:
                # The library logs each request's query (phone numbers) at INFO: keep that quiet.
                quiet = logging.getLogger("ivr.outbox.twilio")
                quiet.setLevel(logging.WARNING)
                http_client = TwilioHttpClient(timeout=self.timeout[1], logger=quiet)
            self._twilio = Client(self.settings["TWILIO_ACCOUNT_SID"], self.settings["TWILIO_AUTH_TOKEN"],
                                  http_client=http_client)
        return self._twilio

    def deliver_sms(self, item: OutboxItem) -> Outcome:
        """Send the text, unless an earlier attempt already did."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            data = json.loads(item.payload)
            to, body, queued_at = data["to"], data["body"], float(data["queued_at"])
        except (ValueError, KeyError, TypeError):
            return Outcome(GIVE_UP, "not a text message payload")
        if not to:
            return Outcome(GIVE_UP, "no number to text")
        if not isinstance(to, str) or not E164_RE.match(to):
            return Outcome(GIVE_UP, "the number is not in E.164 form")
        if not body:
            return Outcome(GIVE_UP, "empty body")
        missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM")
                   if not self.settings[name]]
        if missing:
            return Outcome(RETRY, f"{', '.join(missing)} not set")
        sender = self.settings["TWILIO_SMS_FROM"]
        try:
            client = self.twilio()
            if item.attempts > 1 or item.last_error:  # an earlier attempt (before a requeue, too) may have sent it
                sid = self._already_sent(client, to, sender, body, queued_at)
                if sid is not None:
                    return Outcome(COMPLETE, f"{sid} (sent before)")
            message = client.messages.create(to=to, from_=sender, body=body)
        except TwilioRestException as exc:
            detail = f"Twilio HTTP {exc.status}" + (f" error {exc.code}" if exc.code else "")
            if exc.status in (408, 429) or exc.status >= 500:
                return Outcome(RETRY, detail)
            return Outcome(GIVE_UP, detail)
        except requests.Timeout:
            return Outcome(RETRY, "timeout")
        except requests.RequestException as exc:
            return Outcome(RETRY, f"network error ({type(exc).__name__})")
        except TwilioException as exc:  # e.g. a response the library could not read
            return Outcome(RETRY, f"Twilio client error ({type(exc).__name__})")
        return Outcome(COMPLETE, str(message.sid))

    @staticmethod
    def _already_sent(client, to: str, sender: str, body: str, queued_at: float) -> str | None:
        """The SID of a text with this body sent to `to` since the item was queued, if any."""
        since = queued_at - SENT_SKEW
        after = datetime.fromtimestamp(since, timezone.utc)
        for message in client.messages.list(to=to, from_=sender, date_sent_after=after, limit=50):
            created = message.date_created
            if message.body == body and (created is None or created.timestamp() >= since):
                return str(message.sid)
        return None


# --- the worker ------------------------------------------------------------------------


def _log(fields: dict) -> None:
    level = logging.WARNING if fields.get("outcome") in ("dead", "error") else logging.INFO
    log.log(level, json.dumps(fields, separators=(",", ":")))


def run_once(
    store: Outbox,
    deliverer: Deliverer,
    now: float | None = None,
    *,
    lease_seconds: float = LEASE_SECONDS,
    limit: int = BATCH,
) -> dict[str, int]:
    """Claim the items due at `now` (default: the deliverer's clock) and try each once.

    Returns counts: claimed, done, retry, dead, released (handed back unattempted because
    the lease was about to run out), stale (someone else claimed the item meanwhile).
    A store error propagates; an error in a delivery counts as a failed attempt.
    """
    clock = deliverer.clock
    counts = dict.fromkeys(("claimed", "done", "retry", "dead", "released", "stale"), 0)
    items = store.claim(clock() if now is None else now, lease_seconds, limit)
    counts["claimed"] = len(items)
    for item in items:
        if clock() + deliverer.max_seconds >= item.due_at:
            # Too little lease left to finish: hand it back for the next claim.
            store.retry(item.id, clock(), item.last_error, attempt=item.attempts)
            counts["released"] += 1
            continue
        began = time.perf_counter()
        if item.attempts > deliverer.max_attempts:  # claimed again and again, never answered
            outcome = Outcome(GIVE_UP, f"no answer after {item.attempts - 1} attempts")
        else:
            try:
                outcome = deliverer.deliver(item)
            except Exception as exc:  # a bug must not stop the worker: count it as a failed attempt
                outcome = Outcome(RETRY, f"internal error ({type(exc).__name__})")
        fields = {"event": "OutboxDelivery", "id": item.id, "kind": item.kind, "attempt": item.attempts,
                  "ms": round((time.perf_counter() - began) * 1000, 2)}
        state = _settle(store, deliverer, item, outcome, fields)
        counts[state] += 1
        fields["outcome"] = state
        _log(fields)
    return counts


def _settle(store: Outbox, deliverer: Deliverer, item: OutboxItem, outcome: Outcome, fields: dict) -> str:
    """Record an attempt's outcome in the store; the item's state name for the counts."""
    if outcome.action == COMPLETE:
        fields["note"] = outcome.detail
        store.complete(item.id, outcome.detail)
        return "done"
    fields["error"] = outcome.detail
    if outcome.action == RETRY and item.attempts < deliverer.max_attempts:
        delay = deliverer.backoff(item.attempts, outcome.retry_after)
        fields["retry_in"] = round(delay, 3)
        changed = store.retry(item.id, deliverer.clock() + delay, outcome.detail, attempt=item.attempts)
        return "retry" if changed else "stale"
    error = outcome.detail
    if outcome.action != GIVE_UP:
        error += f" (gave up after {item.attempts} attempts)"
    return "dead" if store.give_up(item.id, error, attempt=item.attempts) else "stale"


def run(
    store: Outbox,
    deliverer: Deliverer,
    stop_event: threading.Event,
    interval: float = 1.0,
    *,
    lease_seconds: float = LEASE_SECONDS,
    limit: int = BATCH,
) -> dict[str, int]:
    """Deliver until stop_event is set: a full batch is followed by the next at once, anything
    less by a wait of `interval` seconds. An unavailable store or an unexpected error is
    logged and waited out. Returns the counts summed."""
    totals: dict[str, int] = {}
    while not stop_event.is_set():
        try:
            counts = run_once(store, deliverer, lease_seconds=lease_seconds, limit=limit)
        except StoreUnavailable as exc:
            _log({"event": "OutboxWorker", "outcome": "error", "error": "store unavailable", "detail": str(exc)[:200]})
            counts = {}
        except Exception as exc:
            _log({"event": "OutboxWorker", "outcome": "error", "error": type(exc).__name__})
            counts = {}
        for name, count in counts.items():
            totals[name] = totals.get(name, 0) + count
        if counts.get("claimed", 0) < limit:
            stop_event.wait(interval)
    return totals
