"""Validate TwiML documents against Twilio's voice schema (vendored twiml.xsd)."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

SCHEMA_PATH = Path(__file__).resolve().parent / "twiml-schema" / "twiml.xsd"


class InvalidTwiML(AssertionError):
    """A document that Twilio's schema rejects; the message holds the error log."""

    def __init__(self, message: str, errors: tuple[str, ...] = ()):
        super().__init__(message)
        self.errors = errors


@functools.cache
def schema() -> etree.XMLSchema:
    """The compiled schema, built once: compiling the XSD takes longer than a test."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def assert_valid_twiml(xml_text: str | bytes) -> etree._Element:
    """Parse and validate a TwiML document; return its root or raise InvalidTwiML."""
    # lxml refuses str input that carries an encoding declaration, so parse bytes.
    data = xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise InvalidTwiML(f"not well-formed XML: {exc}\n{xml_text!r}", (str(exc),)) from None
    checker = schema()
    if not checker.validate(root):
        errors = tuple(f"line {e.line}: {e.message}" for e in checker.error_log)
        joined = "\n".join(errors)
        raise InvalidTwiML(f"TwiML fails twiml.xsd:\n{joined}\n{xml_text!r}", errors)
    return root
