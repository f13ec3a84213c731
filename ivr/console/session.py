"""Signing in and out, the session a cookie carries, the idle logoff and sign-in limits.

The session cookie (signed with SECRET_KEY, HttpOnly, SameSite=Strict, Secure outside
development) holds the account name, the account's epoch, a random session id and when the
person was last seen. A session counts only while all of these hold: the store still knows
the session id (signing out forgets it, so a copied cookie is useless afterwards), the
account exists, is enabled and has the same epoch (a new password or disabling ends every
session), and the person was seen less than IDLE_SECONDS ago (HIPAA's automatic logoff).
The board's own refresh does not count as being seen.

Failed sign-ins are counted in a row per account and per address: five for an account lock it
for LOCK_SECONDS (whatever the password), and ADDRESS_LIMIT from one address refuse that
address as long. Unknown names are counted and answered like known ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, replace

from flask import session

from ivr.console import Desk, accounts, audit
from ivr.console.accounts import verify
from ivr.stores.protocols import Account

log = logging.getLogger("ivr.console")

IDLE_SECONDS = 15 * 60
SESSION_SECONDS = 12 * 3600  # the longest a session lasts, idle or not
LOCK_FAILURES = 5
LOCK_SECONDS = 15 * 60
ADDRESS_LIMIT = 20

WRONG = "Wrong username or password."
LOCKED = "This account is locked for a while after five failed sign-ins in a row. Try again later, or ask an admin."
BUSY_ADDRESS = "Too many failed sign-ins from this address. Try again later."


@dataclass(frozen=True, slots=True)
class SignIn:
    """How a sign-in went: the account when it worked, else what to tell the person."""

    account: Account | None
    message: str = ""


def _session_key(session_id: str) -> str:
    return "console:session:" + hashlib.sha256(session_id.encode()).hexdigest()


def _session_value(name: str, epoch: object) -> bytes:
    return json.dumps({"user": name, "epoch": epoch}, sort_keys=True).encode()


def _primary_role(account: Account) -> str:
    return ",".join(account.roles)


def sign_in(desk: Desk, name: str, password: str, address: str) -> SignIn:
    """Check a name and password against the limits and the account; on success, start a session."""
    store, now = desk.store, desk.now()
    name = name.strip().lower()
    user_key, address_key = f"user:{name}", f"addr:{address}"
    if store.failures(address_key, now)[0] >= ADDRESS_LIMIT:
        _failed(desk, name, address, "address refused after too many failures")
        return SignIn(None, BUSY_ADDRESS)
    if store.failures(user_key, now)[0] >= LOCK_FAILURES:
        _failed(desk, name, address, "account locked")
        return SignIn(None, LOCKED)
    account = store.get_account(name) if name else None
    ok = verify(account, password)
    if not ok or account is None or account.disabled:
        in_a_row = store.count_failure(user_key, now, LOCK_SECONDS)
        store.count_failure(address_key, now, LOCK_SECONDS)
        why = "disabled account" if ok and account is not None else "wrong name or password"
        if in_a_row >= LOCK_FAILURES:
            why += f"; locked after {in_a_row} in a row"
        _failed(desk, name, address, why)
        return SignIn(None, LOCKED if in_a_row >= LOCK_FAILURES else WRONG)
    store.clear_failures(user_key)
    if accounts.HASHER.check_needs_rehash(account.password_hash):  # the hashing got stronger since it was set
        account = replace(account, password_hash=accounts.HASHER.hash(password))
        store.put_account(account)
    session_id = secrets.token_urlsafe(32)
    store.put_value(_session_key(session_id), _session_value(account.name, account.epoch), SESSION_SECONDS)
    session.clear()
    session.update(u=account.name, e=account.epoch, s=session_id, seen=now)
    audit.record(store, now, account.name, _primary_role(account), audit.SIGNED_IN, address=address)
    return SignIn(account)


def _failed(desk: Desk, name: str, address: str, why: str) -> None:
    audit.record(desk.store, desk.now(), name or "-", "-", audit.SIGN_IN_FAILED, address=address, detail=why)
    log.warning(json.dumps({"event": "SignInFailed", "user": name, "why": why}))


def current(desk: Desk, *, touch: bool = True, address: str = "") -> tuple[Account | None, str]:
    """The signed-in account (None when there is none), and why a session ended if it just did
    ("idle", "ended"). `touch` False: this request is not the person being active."""
    name, session_id = session.get("u"), session.get("s")
    if not name or not session_id:
        return None, ""
    now = desk.now()
    seen = float(session.get("seen") or 0)
    kept = desk.store.get_value(_session_key(session_id))
    account = desk.store.get_account(name)
    known = kept is not None and kept == _session_value(name, session.get("e"))
    if not known or account is None or account.disabled or account.epoch != session.get("e"):
        session.clear()
        return None, "ended"
    if now - seen >= IDLE_SECONDS:
        _forget(desk, session_id)
        session.clear()
        audit.record(desk.store, now, name, _primary_role(account), audit.SIGNED_OUT_IDLE, address=address)
        return None, "idle"
    if touch:
        session["seen"] = now
    return account, ""


def _forget(desk: Desk, session_id: str) -> None:
    desk.store.put_value(_session_key(session_id), b"signed-out", SESSION_SECONDS)


def sign_out(desk: Desk, account: Account, address: str) -> None:
    """End the session, here and in the store."""
    session_id = session.get("s")
    if session_id:
        _forget(desk, session_id)
    session.clear()
    audit.record(desk.store, desk.now(), account.name, _primary_role(account), audit.SIGNED_OUT, address=address)


def role_of(account: Account) -> str:
    """The account's roles, as the audit log writes them."""
    return _primary_role(account)
