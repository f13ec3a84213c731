"""Check Twilio's X-Twilio-Signature against the URL Twilio actually requested.

Twilio signs the public URL it was configured with. Behind a TLS-terminating proxy
the app sees another scheme, host or port, and a framework's rebuilt request URL
re-encodes the query string; either way the HMAC would not match. So the URL is rebuilt here
from a configured public base, or else from the proxy's X-Forwarded-* headers, and
always with the query string exactly as it arrived.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Characters left as they are when re-quoting the decoded WSGI path (RFC 3986 pchar + "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _first(environ: Mapping[str, Any], key: str) -> str | None:
    """The first value of a possibly comma-separated proxy header, or None."""
    value = environ.get(key)
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


def _split_port(host: str) -> tuple[str, str | None]:
    """("host", "port") from "host:port", keeping IPv6 brackets intact."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    return (name, port) if sep else (host, None)


def _path(environ: Mapping[str, Any]) -> str:
    # WSGI hands over the path percent-decoded as latin-1 text; put the escapes back.
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return quote(raw.encode("latin-1"), safe=_PATH_SAFE) or "/"


def _query(environ: Mapping[str, Any]) -> str:
    # Raw, never re-encoded: Twilio signed the bytes it sent.
    query = environ.get("QUERY_STRING", "")
    return f"?{query}" if query else ""


def public_url(environ: Mapping[str, Any], public_base: str | None, trust_forwarded: bool = True) -> str:
    """The full URL Twilio requested, rebuilt from a WSGI environ: the configured public base, or
    else the Host header and (from a trusted proxy only) the X-Forwarded-* headers."""
    if public_base:
        return public_base.rstrip("/") + _path(environ) + _query(environ)

    def forwarded(key: str) -> str | None:
        return _first(environ, key) if trust_forwarded else None

    scheme = (forwarded("HTTP_X_FORWARDED_PROTO") or environ["wsgi.url_scheme"]).lower()
    host = forwarded("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
    if not host:
        host = f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    name, port = _split_port(host)
    port = forwarded("HTTP_X_FORWARDED_PORT") or port
    # Drop the scheme's default port; the validator tries both forms anyway.
    netloc = name if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{name}:{port}"
    return f"{scheme}://{netloc}{_path(environ)}{_query(environ)}"


def signature_of(token: str, url: str, form: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature of a URL and a form: HMAC-SHA1 over the URL and every field's
    name and value, sorted (each distinct value of a repeated field, sorted), in base64.

    What RequestValidator.compute_signature computes, without its per-field lookups: on Twilio's ~30
    fields, on every request, two to four times faster (`python -m bench.request`).
    """
    parts = [url]
    every = getattr(form, "getall", None) or getattr(form, "getlist", None)  # all values of a repeated field
    if getattr(form, "repeated", None) == {}:  # the webhooks' form, no field repeated: the usual case
        every = None
    for name in sorted(form):
        values = every(name) if every is not None else (form[name],)
        if len(values) == 1:
            parts.append(name + values[0])
        else:
            parts.extend(name + value for value in sorted(set(values)))
    digest = hmac.new(token.encode("utf-8"), "".join(parts).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def check(token: str, url: str, form: Mapping[str, str], signature: str | None) -> bool:
    """True when `signature` is Twilio's signature of `url` and the POST `form` under `token`."""
    if not token or not signature:
        return False
    # Twilio signs the URL as it requested it, which is how public_url rebuilds it: one HMAC
    # settles the usual case; the validator's fuller check (with and without the port) the rest.
    if hmac.compare_digest(signature_of(token, url, form).encode(), signature.encode()):
        return True
    validator = _validator(token)
    # Any mapping with getall (webhooks.Form) or getlist (werkzeug's MultiDict): the validator
    # signs every value of a repeated field.
    return validator.validate(url, form, signature)


@lru_cache(maxsize=8)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)
