"""The webhook layer's own pieces: reading a url-encoded form, and the fields as the validator sees them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.web.webhooks import MAX_FIELDS, Form, Refused, _pairs

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(TEXT, TEXT), max_size=12))
def test_pairs_read_an_encoded_form_as_parse_qsl_does(fields):
    body = urlencode(fields).encode()
    assert _pairs(body) == parse_qsl(body.decode(), keep_blank_values=True)


@given(st.text(alphabet="ab=&%+2Fé", max_size=30))
def test_pairs_read_any_body_as_parse_qsl_does(text):
    assert _pairs(text.encode()) == parse_qsl(text, keep_blank_values=True)


def test_pairs_refuse_too_many_fields():
    with pytest.raises(Refused) as refused:
        _pairs(b"&".join([b"a=1"] * (MAX_FIELDS + 1)))
    assert refused.value.status.startswith("400")


def test_form_keeps_the_first_value_and_gives_every_value_to_the_validator():
    form = Form([("Tag", "b"), ("X", "1"), ("Tag", "a")])
    assert form["Tag"] == "b" and form.getall("Tag") == ["b", "a"] and form.getall("X") == ["1"]
