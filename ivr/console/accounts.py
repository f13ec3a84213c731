"""Accounts: names, roles, teams, and passwords hashed with argon2id.

A password is never stored or logged, only its argon2 hash (argon2-cffi's defaults: RFC 9106's
low-memory profile). What each role may do is `ROLE_PAGES`' business, in `ivr.console.views`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.stores.protocols import ROLES, Account, Accounts

MIN_PASSWORD = 12
MAX_PASSWORD = 256
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

HASHER = PasswordHasher()
# Checked against when a name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash("not anyone's password")


class AccountError(ValueError):
    """A name, role, team or password that cannot be used, said plainly."""


def check_name(name: str) -> str:
    """A sign-in name: lowercase letters, digits, dots, dashes and underscores."""
    if not NAME_RE.match(name):
        raise AccountError(f'"{name}" cannot be a sign-in name: use lowercase letters, digits, ".", "-" and "_" '
                           "(at most 64), starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    """A password long enough (and not absurdly long)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password may have at most {MAX_PASSWORD} characters")
    return password


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """' (did you mean "X"?)' for the closest known name, or ''."""
    known = list(known)
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    if not close:
        lowered = {name.casefold(): name for name in known}
        close = [lowered[given.casefold()]] if given.casefold() in lowered else []
    return f' (did you mean "{close[0]}"?)' if close else ""


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Known roles, each once, in the order of ROLES."""
    given = set(roles)
    unknown = given - set(ROLES)
    if unknown or not given:
        raise AccountError(f"roles are {', '.join(ROLES)}; got {', '.join(sorted(unknown)) or 'none'}")
    return tuple(role for role in ROLES if role in given)


def new_account(name: str, password: str, roles: Iterable[str], *, teams: Iterable[str] = (), member: str = "",
                at: float) -> Account:
    """An account to add: the name and password checked, the password hashed."""
    roles = check_roles(roles)
    teams = tuple(dict.fromkeys(teams))
    if "coordinator" in roles and not teams:
        raise AccountError("a coordinator needs a team (--team), to see that team's worklist")
    return Account(name=check_name(name), password_hash=HASHER.hash(check_password(password)), roles=roles,
                   teams=teams, member=member, created_at=at)


def verify(account: Account | None, password: str) -> bool:
    """Whether the password is the account's (taking as long when there is no such account)."""
    try:
        return HASHER.verify(account.password_hash if account is not None else _DUMMY_HASH, password) \
            and account is not None
    except (VerificationError, InvalidHashError):
        return False


def with_password(account: Account, password: str) -> Account:
    """The account with a new password; its sessions end."""
    return replace(account, password_hash=HASHER.hash(check_password(password)), epoch=account.epoch + 1)


def disabled(account: Account, value: bool = True) -> Account:
    """The account disabled (or enabled again); its sessions end."""
    return replace(account, disabled=value, epoch=account.epoch + 1)


def require(store: Accounts, name: str) -> Account:
    """The named account, or AccountError naming the closest one."""
    account = store.get_account(name)
    if account is None:
        raise AccountError(f'no account "{name}"{did_you_mean(name, (a.name for a in store.accounts()))}')
    return account
