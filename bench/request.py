"""What reading a webhook costs before the turn: the form and the signature, each against the library way.

    .venv/bin/python -m bench.request

On a Twilio form of 31 fields, in one run (best of 7 x 5,000): the form read by
`webhooks._pairs` against `urllib.parse.parse_qsl`, and the signature computed by
`signature.signature_of` against `RequestValidator.compute_signature`. Both pairs must agree
(checked first); the figures say whether the hand-written halves still earn their place.
"""

from __future__ import annotations

import timeit
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

from ivr.telephony.signature import signature_of
from ivr.web.webhooks import MAX_FIELDS, Form, _pairs

FIELDS = {
    "AccountSid": "AC" + "a" * 32, "ApiVersion": "2010-04-01", "CallSid": "CA" + "b" * 32,
    "CallStatus": "in-progress", "Called": "+16266696777", "CalledCity": "PASADENA", "CalledCountry": "US",
    "CalledState": "CA", "CalledZip": "91101", "Caller": "+16265550123", "CallerCity": "LOS ANGELES",
    "CallerCountry": "US", "CallerState": "CA", "CallerZip": "90012", "Digits": "1", "Direction": "inbound",
    "FinishedOnKey": "", "From": "+16265550123", "FromCity": "LOS ANGELES", "FromCountry": "US",
    "FromState": "CA", "FromZip": "90012", "To": "+16266696777", "ToCity": "PASADENA", "ToCountry": "US",
    "ToState": "CA", "ToZip": "91101", "msg": "Gather End", "CallToken": '{"parentCallInfoToken":"abc"}',
    "StirVerstat": "TN-Validation-Passed-A", "Timestamp": "Tue, 01 Dec 2026 10:00:00 +0000",
}
URL = "https://ivr.example.org/voice/turn?t=3"
TOKEN = "bench-token"


def best_us(fn, number: int = 5000, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    body = urlencode(FIELDS).encode()
    assert _pairs(body) == parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    form = Form(_pairs(body))
    validator = RequestValidator(TOKEN)
    assert signature_of(TOKEN, URL, form) == validator.compute_signature(URL, form)
    rows = [
        ("form: webhooks._pairs", best_us(lambda: _pairs(body))),
        ("form: parse_qsl", best_us(lambda: parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                                      max_num_fields=MAX_FIELDS))),
        ("signature: signature_of", best_us(lambda: signature_of(TOKEN, URL, form))),
        ("signature: RequestValidator.compute_signature", best_us(lambda: validator.compute_signature(URL, form))),
    ]
    for name, us in rows:
        print(f"  {name:48} {us:7.1f} us")
    print(f"  parse_qsl / _pairs: {rows[1][1] / rows[0][1]:.2f}x; "
          f"compute_signature / signature_of: {rows[3][1] / rows[2][1]:.2f}x")


if __name__ == "__main__":
    main()
