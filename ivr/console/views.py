"""The desk's pages: sign-in, the worklist and its records, availability, the roster, the live
board, users and the audit log.

Each page names the roles that may see it (`page`); anyone else gets 403, and the refusal is
audited. Every record a page shows is read under the signed-in account and audited. Pages
answer whole documents; an htmx request (HX-Request) gets just the part it swaps.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_wtf.csrf import CSRFError

from ivr import records as rec
from ivr.console import Desk, audit, media, session as sessions
from ivr.console.accounts import AccountError, check_password, disabled, new_account, require, verify, with_password
from ivr.flows.teams import is_open, next_opening, team_title
from ivr.stores.protocols import (CLAIMED, CLOSED, NEW, OPEN_STATES, ROLES, TRIED, WORK_STATES, Account, WorkItem,
                                  WorkKey, work_key)

blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                      static_folder="static")
disabled_blueprint = Blueprint("console_off", __name__, url_prefix="/console")

PAGE = 100  # worklist rows a page shows
EXPORT_BATCH = 1000  # worklist rows an export reads at a time
REF_RE = re.compile(r"[0-9a-f]{20}")  # a record's opaque ref (records.ref_of)
AUDIT_PAGE = 200
LIVE_SECONDS = 4 * 3600  # a call not heard of for this long has left the board
STAGES = (("menu", "In the menus"), ("guide", "In the decision guide"), ("booking", "Booking a ride"),
          ("message", "Leaving a message"), ("transfer", "Transfer ringing"))
KIND_NAMES = {"voicemail": "Voicemail", "callback": "Call-back request", "ride": "Ride request"}
STATE_NAMES = {NEW: "New", CLAIMED: "Claimed", TRIED: "Tried, no answer", CLOSED: "Done"}
HOME = {"coordinator": "console.worklist", "admin": "console.users", "auditor": "console.audit_log"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@disabled_blueprint.route("/", defaults={"path": ""})
@disabled_blueprint.route("/<path:path>", methods=["GET", "POST"])
def off(path: str) -> Response:
    return Response("The desk is off: set SECRET_KEY to turn it on.\n", 503, mimetype="text/plain")


def _desk() -> Desk:
    return current_app.extensions["ivr.console"]


def _address() -> str:
    """The client's address: the peer's, or behind a trusted proxy the last hop of X-Forwarded-For
    that is not one (what sign-in limits and the audit log record)."""
    return client_address(request.remote_addr or "", request.headers.get("X-Forwarded-For", ""),
                          _desk().trusted_proxies)


def client_address(peer: str, forwarded: str, trusted: frozenset[str]) -> str:
    """The address a request came from, believing X-Forwarded-For only from trusted proxies."""
    if peer in trusted:
        for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
            if hop not in trusted:
                return hop
    return peer


def _audit(desk: Desk, account: Account, action: str, *, record: str = "", detail: str = "",
           at: float | None = None) -> None:
    """An audit event of the signed-in person's: their name and role, the client's address, now
    (or `at`)."""
    audit.record(desk.store, desk.now() if at is None else at, account.name, sessions.role_of(account), action,
                 record=record, address=_address(), detail=detail)


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if current_app.config.get("DESK_HSTS"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers["Referrer-Policy"] = "same-origin"  # the CSRF check over HTTPS wants it
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(CSRFError)
def _csrf(error: CSRFError) -> tuple[str, int]:
    return render_template("console/error.html", title="Form refused",
                           message="The form was refused: it had no valid token. Reload the page and try again."), 400


@blueprint.errorhandler(403)
def _forbidden(error: Any) -> tuple[str, int]:
    return render_template("console/error.html", title="Not for your role",
                           message="Your role does not let you see this page."), 403


@blueprint.errorhandler(404)
def _missing(error: Any) -> tuple[str, int]:
    return render_template("console/error.html", title="Not found", message="There is nothing here for you."), 404


def page(*roles: str, touch: bool = True) -> Callable:
    """A view for signed-in people with one of `roles` (any role when none are named)."""
    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            desk = _desk()
            account, why = sessions.current(desk, touch=touch, address=_address())
            if account is None:
                target = url_for("console.login", reason=why or None, next=request.path if not _htmx() else None)
                if _htmx():
                    return Response("", 401, {"HX-Redirect": target})
                return redirect(target)
            if roles and not set(roles) & set(account.roles):
                _audit(desk, account, audit.DENIED, detail=request.path)
                abort(403)
            g.account = account
            return view(desk, account, *args, **kwargs)
        return inner
    return wrap


@blueprint.app_template_filter("local")
def _local(epoch: float, fmt: str = "%a %b %d, %H:%M") -> str:
    flow = _desk().flow()
    zone = flow.calendar.zone if flow is not None else None
    return datetime.fromtimestamp(epoch, zone).strftime(fmt)


@blueprint.app_template_filter("masked")
def _masked(number: str) -> str:
    return "\u2022\u2022\u2022\u2022 " + number[-4:] if len(number) >= 4 else "none"


@blueprint.context_processor
def _context() -> dict[str, Any]:
    account = g.get("account")
    return {"account": account, "nav": _nav(account), "kind_names": KIND_NAMES, "state_names": STATE_NAMES}


def _nav(account: Account | None) -> list[tuple[str, str]]:
    if account is None:
        return []
    roles = set(account.roles)
    items = []
    if "coordinator" in roles:
        items.append(("console.worklist", "Worklist"))
    if roles & {"coordinator", "admin"}:
        items += [("console.availability", "Availability"), ("console.roster", "Roster"), ("console.board", "Board")]
    if "admin" in roles:
        items.append(("console.users", "Users"))
    if "auditor" in roles:
        items.append(("console.audit_log", "Audit log"))
    items.append(("console.password", "Password"))
    return items


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or "//" in parts.path:
        return None
    return parts.path


# --- signing in and out ------------------------------------------------------------------

@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    desk = _desk()
    reason = {"idle": "You were signed out after 15 minutes without activity.",
              "ended": "Your session ended. Please sign in again."}.get(request.args.get("reason", ""), "")
    if request.method == "POST":
        result = sessions.sign_in(desk, request.form.get("username", ""), request.form.get("password", ""),
                                  _address())
        if result.account is None:
            return render_template("console/login.html", error=result.message,
                                   username=request.form.get("username", "")), 401
        g.account = result.account
        home = url_for(HOME[result.account.roles[0]])
        return redirect(_safe_next(request.args.get("next")) or home)
    return render_template("console/login.html", reason=reason)


@blueprint.post("/logout")
@page()
def logout(desk: Desk, account: Account) -> Any:
    sessions.sign_out(desk, account, _address())
    return redirect(url_for("console.login"))


@blueprint.get("/")
@page()
def home(desk: Desk, account: Account) -> Any:
    return redirect(url_for(HOME[account.roles[0]]))


@blueprint.route("/password", methods=["GET", "POST"])
@page()
def password(desk: Desk, account: Account) -> Any:
    if request.method == "POST":
        try:
            if not verify(account, request.form.get("current", "")):
                raise AccountError("The current password is not right.")
            if request.form.get("new", "") != request.form.get("again", ""):
                raise AccountError("The two new passwords differ.")
            changed = with_password(account, check_password(request.form.get("new", "")))
        except AccountError as exc:
            return render_template("console/password.html", error=str(exc)), 400
        desk.store.put_account(changed)
        _audit(desk, account, audit.PASSWORD_SET, detail=account.name)
        return redirect(url_for("console.login", reason="ended"))
    return render_template("console/password.html")


# --- the worklist --------------------------------------------------------------------------

def _filters(account: Account) -> dict[str, str]:
    team = request.args.get("team", "")
    kind = request.args.get("kind", "")
    status = request.args.get("status", "open")
    return {"team": team if team in account.teams else "", "kind": kind if kind in rec.KINDS else "",
            "status": status if status in (*WORK_STATES, "open") else "open"}


def _scope(account: Account, chosen: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    teams = (chosen["team"],) if chosen["team"] else tuple(account.teams)
    kinds = (chosen["kind"],) if chosen["kind"] else None
    return teams, kinds


def _query(account: Account) -> tuple[dict[str, str], dict[str, Any]]:
    """The filters chosen (as the page's links keep them), and the worklist query they make:
    the states, teams and kinds to list."""
    chosen = _filters(account)
    teams, kinds = _scope(account, chosen)
    states = OPEN_STATES if chosen["status"] == "open" else (chosen["status"],)
    return chosen, {"states": states, "teams": teams, "kinds": kinds}


def _cursor(item: WorkItem) -> str:
    """Where a page starts or ends, for its links: the call's time and the record's opaque ref,
    nothing of the call or the caller."""
    return f"{item.created_at!r}_{item.ref}"


def _page_key(desk: Desk, name: str) -> WorkKey | None:
    """The key a link's cursor names (None without a usable one). A record gone from the
    worklist since leaves its time: the page starts at that moment."""
    at, _, ref = request.args.get(name, "").partition("_")
    try:
        moment = float(at)
    except ValueError:
        return None
    if not math.isfinite(moment):
        return None
    item = desk.store.work_item_by_ref(ref) if REF_RE.fullmatch(ref) else None
    return work_key(item) if item is not None and item.created_at == moment else (moment, "")


def _page(desk: Desk, query: dict[str, Any]) -> tuple[list[WorkItem], bool]:
    """The page of the worklist the link asked for, and whether it is the first: the first, the
    one after a cursor, or the one before it. A page before that comes up short is the first
    page; a page after the last (its records closed since) is the last."""
    store = desk.store
    after, before = _page_key(desk, "after"), _page_key(desk, "before")
    if after is not None:
        items = store.work_items(**query, limit=PAGE, after=after)
        if items:
            return items, False
        before = after
    if before is not None:
        items = store.work_items(**query, limit=PAGE, ahead_of=before)
        if len(items) == PAGE:
            return items, False
    return store.work_items(**query, limit=PAGE), True


def _pages(desk: Desk, query: dict[str, Any], chosen: dict[str, str], items: list[WorkItem], first: bool,
           total: int) -> dict[str, Any]:
    """Where a page stands ("Showing 101-200 of 340": how many that match are ahead of its
    first row) and its links to the pages before and after, which keep the filters."""
    ahead = 0
    if items and not first:
        counts = desk.store.work_counts(teams=query["teams"], kinds=query["kinds"], ahead_of=work_key(items[0]))
        ahead = sum(counts[state] for state in query["states"])
    kept: dict[str, Any] = {name: value for name, value in chosen.items() if value}
    previous = following = None
    if ahead:  # the page before is the first one when no more than a page is ahead
        before: dict[str, Any] = {"before": _cursor(items[0])} if ahead > PAGE else {}
        previous = url_for("console.worklist", **kept, **before)
    if ahead + len(items) < total:
        following = url_for("console.worklist", **kept, after=_cursor(items[-1]))
    return {"first": ahead + 1, "last": ahead + len(items), "total": max(total, ahead + len(items)),
            "previous": previous, "next": following}


@blueprint.get("/worklist")
@page("coordinator")
def worklist(desk: Desk, account: Account) -> Any:
    chosen, query = _query(account)
    items, first = _page(desk, query)
    found = rec.load_many(desk.store, [item.id for item in items])
    rows = [(item, found[item.id]) for item in items if item.id in found]
    counts = desk.store.work_counts(teams=query["teams"], kinds=query["kinds"])
    counts["open"] = sum(counts[state] for state in OPEN_STATES)
    pages = _pages(desk, query, chosen, items, first, total=sum(counts[state] for state in query["states"]))
    # A list shows what callers left too: the reading is audited (the filters, how many were shown, from where).
    shown = ", ".join(f"{name}={value}" for name, value in chosen.items() if value)
    start = f" from {pages['first']}" if pages["first"] > 1 else ""
    _audit(desk, account, audit.LISTED, detail=f"{len(rows)} record(s){start}; {shown}")
    context = {"rows": rows, "counts": counts, "chosen": chosen, "teams": account.teams, "pages": pages,
               "titles": _titles(desk), "number_of": rec.callback_number}
    if _htmx():
        return render_template("console/_worklist.html", **context)
    return render_template("console/worklist.html", **context)


@blueprint.get("/worklist.csv")
@page("coordinator")
def export(desk: Desk, account: Account) -> Any:
    _, query = _query(account)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["ref", "called_at", "team", "kind", "language", "status", "by", "attempts", "summary"])
    written = 0
    items = desk.store.work_items(**query, limit=EXPORT_BATCH)
    while items:  # every record the filters name, a batch at a time
        found = rec.load_many(desk.store, [item.id for item in items])
        for item in items:
            record = found.get(item.id)
            if record is not None:
                writer.writerow([item.ref, _local(item.created_at, "%Y-%m-%d %H:%M"), item.team, item.kind,
                                 record.language, item.state, item.by, item.attempts, record.summary])
                written += 1
        items = desk.store.work_items(**query, limit=EXPORT_BATCH, after=work_key(items[-1]))
    _audit(desk, account, audit.EXPORTED, detail=f"{written} record(s) as CSV")
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="worklist.csv"'})


def _titles(desk: Desk) -> dict[str, str]:
    flow = desk.flow()
    return {team_id: team_title(team) for team_id, team in (flow.teams.items() if flow else ())}


def _item_for(desk: Desk, account: Account, ref: str) -> tuple[Any, rec.Record]:
    """A record of the account's teams by its ref; 404 for anything else (another team's too)."""
    item = desk.store.work_item_by_ref(ref)
    if item is None or item.team not in account.teams:
        abort(404)
    record = rec.load(desk.store, item.id)
    if record is None:
        abort(404)
    return item, record


def _record_page(desk: Desk, item: Any, record: rec.Record, *, revealed: bool = False, message: str = "",
                 status: int = 200) -> Any:
    return render_template("console/record.html", item=item, record=record, revealed=revealed, message=message,
                           number=rec.callback_number(record), titles=_titles(desk)), status


@blueprint.get("/records/<ref>")
@page("coordinator")
def record_view(desk: Desk, account: Account, ref: str) -> Any:
    item, record = _item_for(desk, account, ref)
    _audit(desk, account, audit.VIEWED, record=item.id)
    return _record_page(desk, item, record)


@blueprint.post("/records/<ref>/reveal")
@page("coordinator")
def reveal(desk: Desk, account: Account, ref: str) -> Any:
    item, record = _item_for(desk, account, ref)
    _audit(desk, account, audit.REVEALED, record=item.id)
    if _htmx():
        return render_template("console/_number.html", item=item, number=rec.callback_number(record), revealed=True)
    return _record_page(desk, item, record, revealed=True)


@blueprint.get("/records/<ref>/audio")
@page("coordinator")
def audio(desk: Desk, account: Account, ref: str) -> Any:
    item, record = _item_for(desk, account, ref)
    if not isinstance(record, rec.Voicemail):
        abort(404)
    try:
        chunks, headers = media.open_recording(desk, record.recording_url)
    except media.MediaError as exc:
        return Response(f"The recording cannot be played: {exc}.\n", 502, mimetype="text/plain")
    _audit(desk, account, audit.PLAYED, record=item.id)
    return Response(stream_with_context(chunks), headers=headers)


CHANGES = {"claim": audit.CLAIMED, "release": audit.RELEASED, "tried": audit.TRIED, "done": audit.CLOSED}


@blueprint.post("/records/<ref>/status")
@page("coordinator")
def change_status(desk: Desk, account: Account, ref: str) -> Any:
    item, record = _item_for(desk, account, ref)
    how = request.form.get("action", "")
    if how not in CHANGES:
        abort(400)
    now = desk.now()
    try:
        if how == "claim":
            item = rec.claim(desk.store, item, account.name, now)
        elif how == "release":
            item = rec.release(desk.store, item, account.name, now)
        elif how == "tried":
            item = rec.tried(desk.store, item, account.name, now)
        else:
            item = rec.close(desk.store, item, account.name, now, request.form.get("note", ""))
    except rec.WorkError as exc:
        latest = desk.store.work_item(item.id) or item
        message = f"Not changed: {exc}."
        if _htmx():
            return render_template("console/_status.html", item=latest, message=message, error=True), 409
        return _record_page(desk, latest, record, message=message, status=409)
    _audit(desk, account, CHANGES[how], record=item.id, at=now)
    message = {"claim": "Claimed: the team sees it is yours.", "release": "Given back to the team.",
               "tried": f"Tried, no answer ({item.attempts} so far). It stays open.",
               "done": "Done. It leaves the open worklist."}[how]
    if _htmx():
        return render_template("console/_status.html", item=item, message=message)
    flash(message)
    return redirect(url_for("console.record_view", ref=item.ref))


# --- availability, the roster, the board ----------------------------------------------------

def _members(desk: Desk) -> dict[str, list[str]]:
    flow = desk.flow()
    out: dict[str, list[str]] = {}
    for team_id, team in (flow.teams.items() if flow else ()):
        for member in team.members:
            out.setdefault(member.name, []).append(team_id)
    return out


@blueprint.route("/availability", methods=["GET", "POST"])
@page("coordinator", "admin")
def availability(desk: Desk, account: Account) -> Any:
    members = _members(desk)
    may_set = sorted(members) if "admin" in account.roles else [n for n in (account.member,) if n in members]
    message, status = "", 200
    if request.method == "POST":
        name = request.form.get("name", "")
        state = request.form.get("state", "")
        if name not in may_set or state not in ("available", "away"):
            abort(403)
        now = desk.now()
        desk.store.set_availability(name, state == "available", now)
        _audit(desk, account, audit.AVAILABILITY, detail=f"{name}: {state}", at=now)
        message = f"{name} is {state}. This applies to the next call on every line."
        if not _htmx():
            flash(message)
            return redirect(url_for("console.availability"))
    states = desk.store.availability()
    people = [(name, members[name], states.get(name, (True, 0.0))) for name in may_set]
    context = {"people": people, "message": message, "titles": _titles(desk)}
    if _htmx():
        return render_template("console/_availability.html", **context), status
    return render_template("console/availability.html", **context), status


@blueprint.get("/roster")
@page("coordinator", "admin")
def roster(desk: Desk, account: Account) -> Any:
    flow = desk.flow()
    now = desk.clock()
    states = desk.store.availability()
    teams = []
    for team_id, team in (flow.teams.items() if flow else ()):
        open_now = is_open(flow.calendar, team, now) if flow else False
        opens = None if open_now or flow is None else next_opening(flow.calendar, team, now)
        members = [(m, states.get(m.name, (True, 0.0))[0]) for m in team.members]
        teams.append((team_id, team_title(team), members, open_now, opens, team.hours is None))
    return render_template("console/roster.html", teams=teams)


def _board(desk: Desk) -> dict[str, Any]:
    flow = desk.flow()
    now = desk.now()
    zone = flow.calendar.zone if flow else None
    midnight = datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    live, today = desk.store.board(midnight.timestamp(), now - LIVE_SECONDS)
    by_stage = {stage: 0 for stage, _ in STAGES}
    ringing: list[float] = []
    for stage, since in live:
        by_stage[stage] = by_stage.get(stage, 0) + 1
        if stage == "transfer":
            ringing.append(now - since)
    waiting = []
    for team_id, team in (flow.teams.items() if flow else ()):
        counts = desk.store.work_counts(teams=(team_id,))
        waiting.append((team_title(team), sum(counts[state] for state in OPEN_STATES), counts[NEW]))
    return {"stages": [(label, by_stage.get(stage, 0)) for stage, label in STAGES], "in_line": len(live),
            "ringing": len(ringing), "longest": max(ringing, default=0.0), "today": today, "waiting": waiting,
            "updated": now}


@blueprint.get("/board")
@page("coordinator", "admin")
def board(desk: Desk, account: Account) -> Any:
    return render_template("console/board.html", **_board(desk))


@blueprint.get("/board/live")
@page("coordinator", "admin", touch=False)  # the refresh is not the person being active
def board_live(desk: Desk, account: Account) -> Any:
    return render_template("console/_board.html", **_board(desk))


# --- users and the audit log ------------------------------------------------------------------

@blueprint.route("/users", methods=["GET", "POST"])
@page("admin")
def users(desk: Desk, account: Account) -> Any:
    flow = desk.flow()
    team_ids = sorted(flow.teams) if flow else []
    members = sorted(_members(desk))
    error, status = "", 200
    if request.method == "POST":
        form = request.form
        try:
            member = form.get("member", "")
            if member and member not in members:
                raise AccountError(f'no member "{member}" in the teams file')
            teams = [team for team in form.getlist("teams") if team in team_ids]
            new = new_account(form.get("name", "").strip(), form.get("password", ""), form.getlist("roles"),
                              teams=teams, member=member, at=desk.now())
            if not desk.store.add_account(new):
                raise AccountError(f'an account "{new.name}" exists already')
        except AccountError as exc:
            error, status = str(exc), 400
        else:
            _audit(desk, account, audit.USER_ADDED, detail=f"{new.name}: {', '.join(new.roles)}")
            flash(f"Added {new.name}.")
            return redirect(url_for("console.users"))
    return render_template("console/users.html", accounts=desk.store.accounts(), roles=ROLES, team_ids=team_ids,
                           members=members, error=error), status


@blueprint.post("/users/<name>/<change>")
@page("admin")
def user_change(desk: Desk, account: Account, name: str, change: str) -> Any:
    try:
        target = require(desk.store, name)
        if change == "disable":
            if target.name == account.name:
                raise AccountError("you cannot disable your own account")
            desk.store.put_account(disabled(target))
            action = audit.USER_DISABLED
        elif change == "enable":
            desk.store.put_account(disabled(target, False))
            action = audit.USER_ENABLED
        elif change == "password":
            desk.store.put_account(with_password(target, request.form.get("password", "")))
            action = audit.PASSWORD_SET
        else:
            abort(404)
    except AccountError as exc:
        flash(f"Not changed: {exc}.")
        return redirect(url_for("console.users"))
    _audit(desk, account, action, detail=name)
    flash(f"{name}: {change} done.")
    return redirect(url_for("console.users"))


@blueprint.get("/audit")
@page("auditor")
def audit_log(desk: Desk, account: Account) -> Any:
    user = request.args.get("user", "").strip() or None
    since_text = request.args.get("since", "")
    since = None
    if since_text:
        try:
            flow = desk.flow()
            day = datetime.fromisoformat(since_text)
            since = (day if day.tzinfo else day.replace(tzinfo=flow.calendar.zone if flow else None)).timestamp()
        except ValueError:
            since_text = ""
    events = desk.store.audit_events(since=since, user=user, limit=AUDIT_PAGE)
    return render_template("console/audit.html", events=events, user=user or "", since=since_text)


def minutes(seconds: float) -> str:
    """A wait as people say it."""
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


blueprint.add_app_template_filter(minutes, "minutes")
blueprint.add_app_template_global(timedelta, "timedelta")
blueprint.add_app_template_global(json.dumps, "to_json")
