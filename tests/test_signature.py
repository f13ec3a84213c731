"""Twilio request signatures: the published vector, proxies, raw query strings, forgeries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from ivr.telephony.signature import check, public_url, signature_of
from ivr.web.webhooks import Form

TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
FORM = {"CallSid": "CA0123456789abcdef0123456789abcdef", "Digits": "2", "From": "+16265550123"}


def environ(path="/voice/turn", query="", base="http://127.0.0.1:8000", headers=None, data=None):
    """A WSGI environ as a server behind a proxy would see it, with the raw query string."""
    env = EnvironBuilder(
        path=path, base_url=base, method="POST", headers=headers or {}, data=data or FORM
    ).get_environ()
    env["QUERY_STRING"] = query  # set raw, so nothing re-encodes it on the way in
    return env


def sign(url: str, form=FORM, token: str = TOKEN) -> str:
    """What Twilio would send in X-Twilio-Signature for this URL and form."""
    return RequestValidator(token).compute_signature(url, form)


def test_published_vector():
    assert check(TOKEN, VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE),
        (TOKEN, VECTOR_URL.replace("foo=1", "foo=2"), VECTOR_PARAMS, VECTOR_SIGNATURE),
        (TOKEN, VECTOR_URL.replace("https", "http"), VECTOR_PARAMS, VECTOR_SIGNATURE),
        (TOKEN, VECTOR_URL, {**VECTOR_PARAMS, "Digits": "1235"}, VECTOR_SIGNATURE),
        (TOKEN, VECTOR_URL, {**VECTOR_PARAMS, "Extra": "1"}, VECTOR_SIGNATURE),
        (TOKEN, VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B9="),
        (TOKEN, VECTOR_URL, VECTOR_PARAMS, ""),
        (TOKEN, VECTOR_URL, VECTOR_PARAMS, None),
        ("", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE),
    ],
    ids=[
        "wrong-token",
        "other-query",
        "other-scheme",
        "tampered-digits",
        "added-field",
        "forged",
        "empty",
        "missing",
        "no-token",
    ],
)
def test_anything_else_is_refused(token, url, params, signature):
    assert check(token, url, params, signature) is False


def test_default_port_is_tolerated():
    url = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert check(TOKEN, url, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_public_base_replaces_scheme_and_host():
    env = environ(query="n=3")
    assert public_url(env, "https://ivr.example.org") == "https://ivr.example.org/voice/turn?n=3"
    assert public_url(env, "https://ivr.example.org/") == "https://ivr.example.org/voice/turn?n=3"


def test_public_base_ignores_forwarded_headers():
    env = environ(headers={"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "http"})
    assert public_url(env, "https://ivr.example.org") == "https://ivr.example.org/voice/turn"


def test_without_proxy_the_request_url_is_used():
    env = environ(base="http://localhost:5000", query="a=1")
    assert public_url(env, None) == "http://localhost:5000/voice/turn?a=1"


def test_server_name_stands_in_for_a_missing_host_header():
    env = environ(base="http://ivr.internal:8080")
    del env["HTTP_HOST"]
    assert public_url(env, None) == "http://ivr.internal:8080/voice/turn"


def test_tls_terminating_proxy():
    # Twilio requested https://ivr.example.org/...; the app behind the router sees http.
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.org"}
    env = environ(base="http://10.0.0.7:8000", query="n=1", headers=headers)
    signature = sign("https://ivr.example.org/voice/turn?n=1")
    form = Request(env).form

    assert public_url(env, None) == "https://ivr.example.org/voice/turn?n=1"
    assert check(TOKEN, public_url(env, None), form, signature)
    # What the app would check without the proxy headers: it must not match.
    assert not check(TOKEN, Request(env).url, form, signature)


HTTPS = {"X-Forwarded-Proto": "https"}
SITE = "ivr.example.org"


@pytest.mark.parametrize(
    ("headers", "host", "expected"),
    [
        pytest.param(
            {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": f"{SITE}, proxy.lan"},
            "app:8000",
            f"https://{SITE}/voice/turn",
            id="first-of-list",
        ),
        pytest.param(
            {**HTTPS, "X-Forwarded-Port": "443"}, SITE, f"https://{SITE}/voice/turn", id="default-port"
        ),
        pytest.param(
            {**HTTPS, "X-Forwarded-Port": "8443, 443"},
            SITE,
            f"https://{SITE}:8443/voice/turn",
            id="other-port",
        ),
        pytest.param(
            {**HTTPS, "X-Forwarded-Port": "443"},
            f"{SITE}:80",
            f"https://{SITE}/voice/turn",
            id="port-replaced",
        ),
        pytest.param(
            {"X-Forwarded-Proto": "HTTPS"}, f"{SITE}:443", f"https://{SITE}/voice/turn", id="proto-case"
        ),
        pytest.param(
            {"X-Forwarded-Host": f"{SITE}:8443"}, "app", f"http://{SITE}:8443/voice/turn", id="host-port"
        ),
        pytest.param(
            {**HTTPS, "X-Forwarded-Port": "8443"},
            "[2001:db8::1]",
            "https://[2001:db8::1]:8443/voice/turn",
            id="ipv6-port",
        ),
        pytest.param({}, "[2001:db8::1]:8000", "http://[2001:db8::1]:8000/voice/turn", id="ipv6"),
    ],
)
def test_forwarded_headers(headers, host, expected):
    env = environ(headers={"Host": host, **headers})
    assert public_url(env, None) == expected


@pytest.mark.parametrize(
    "query",
    ["a=b%20c&x=%2B1", "to=%2B16265550123&t=%7Eme", "next=%2Fvoice%2Fturn", "q=%E2%82%AC&e="],
)
def test_escaped_query_string_is_kept_raw(query):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.org"}
    env = environ(query=query, headers=headers)
    twilio_url = f"https://ivr.example.org/voice/turn?{query}"
    signature = sign(twilio_url)

    assert public_url(env, None) == twilio_url
    assert public_url(env, "https://ivr.example.org") == twilio_url
    assert check(TOKEN, public_url(env, None), Request(env).form, signature)


def test_werkzeug_request_url_would_break_escaped_queries():
    # Why the raw QUERY_STRING matters: werkzeug unescapes %7E and %2F when building request.url.
    env = environ(base="https://ivr.example.org", query="t=%7Eme&next=%2Fa")
    signature = sign("https://ivr.example.org/voice/turn?t=%7Eme&next=%2Fa")
    assert not check(TOKEN, Request(env).url, FORM, signature)
    assert check(TOKEN, public_url(env, None), FORM, signature)


def test_escaped_path_is_restored():
    env = environ(path="/voice/caf%C3%A9%20menu", base="https://ivr.example.org")
    assert public_url(env, None) == "https://ivr.example.org/voice/caf%C3%A9%20menu"


def test_script_name_prefix_is_kept():
    env = environ(base="https://ivr.example.org")
    env["SCRIPT_NAME"] = "/ivr"
    assert public_url(env, None) == "https://ivr.example.org/ivr/voice/turn"


def test_repeated_form_fields_are_all_signed():
    env = environ(base="https://ivr.example.org", data={"Tag": ["b", "a"], "X": "1"})
    form = Request(env).form
    url = public_url(env, None)
    good = RequestValidator(TOKEN).compute_signature(url, form)
    only_first = RequestValidator(TOKEN).compute_signature(url, {"Tag": "b", "X": "1"})
    assert good != only_first
    assert check(TOKEN, url, form, good)
    assert not check(TOKEN, url, form, only_first)


def test_module_does_not_import_flask():
    import ivr.telephony.signature as module

    assert "flask" not in vars(module)


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=20)), max_size=12),
       query=st.text(alphabet="abc=&%20", max_size=12))
def test_the_direct_signature_is_the_validators(fields, query):
    url = f"https://ivr.example.org/voice/turn?{query}"
    form = Form(fields)
    assert signature_of(TOKEN, url, form) == RequestValidator(TOKEN).compute_signature(url, form)
