"""The vendored twiml.xsd accepts what Twilio accepts and rejects what it rejects."""

from __future__ import annotations

import pytest

import twiml_schema
from twiml_schema import InvalidTwiML

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def test_schema_file_is_vendored_with_its_licence():
    folder = twiml_schema.SCHEMA_PATH.parent
    assert twiml_schema.SCHEMA_PATH.name == "twiml.xsd"
    for name in ("twiml.xsd", "synthesis-nonamespace.xsd", "twilio-extensions.xsd", "xml.xsd"):
        assert (folder / name).is_file(), name
    assert "Permission is hereby granted" in (folder / "LICENSE").read_text()


def test_schema_is_compiled_once():
    assert twiml_schema.schema() is twiml_schema.schema()


@pytest.mark.parametrize(
    "document",
    [
        "<Response/>",
        '<Response><Say voice="Polly.Joanna" language="en-US">Hello</Say><Hangup/></Response>',
        '<Response><Gather numDigits="1" timeout="5"><Say>Hi</Say><Pause length="1"/>'
        '<Play>https://x/a.mp3</Play></Gather><Redirect method="POST">/n</Redirect></Response>',
        '<Response><Dial answerOnBridge="true" timeout="20"><Number url="/w">+15555550100</Number>'
        "</Dial></Response>",
    ],
)
def test_valid_documents_pass(assert_valid_twiml, document):
    root = assert_valid_twiml(HEAD + document)
    assert root.tag == "Response"


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("<Respons/>", "validation root"),
        ("<Response><Gather><Dial>+15555550100</Dial></Gather></Response>", "Dial"),
        ('<Response><Say voice="Polly.Joanna-Neural">Hi</Say></Response>', "voice"),
        ('<Response><Gather timeout="soon"/></Response>', "timeout"),
        ('<Response><Pause length="true"/></Response>', "length"),
        ("<Response><Message>hi</Message></Response>", "Message"),
    ],
)
def test_invalid_documents_fail_with_the_error_log(assert_valid_twiml, document, complaint):
    with pytest.raises(InvalidTwiML, match="twiml.xsd") as caught:
        assert_valid_twiml(HEAD + document)
    assert caught.value.errors
    assert any(complaint in error for error in caught.value.errors), caught.value.errors


def test_malformed_xml_fails(assert_valid_twiml):
    with pytest.raises(InvalidTwiML, match="not well-formed"):
        assert_valid_twiml("<Response><Say></Response>")


def test_bytes_are_accepted(assert_valid_twiml):
    assert assert_valid_twiml((HEAD + "<Response/>").encode()).tag == "Response"
