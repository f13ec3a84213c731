"""A voicemail, streamed from Twilio to the browser through the desk.

The browser asks the desk (`/console/records/<ref>/audio`); the desk fetches the recording's
MP3 from Twilio with the account's credentials (HTTP basic auth, as Twilio requires when media
URLs are protected) and passes the bytes on as they come. The browser never sees Twilio's URL
or the credentials, and only URLs under Twilio's API (TWILIO_MEDIA_BASE) are ever fetched.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests

from ivr.console import Desk

FORMAT, MIMETYPE = ".mp3", "audio/mpeg"
TIMEOUT = (3.05, 30)  # connect, read (seconds)
CHUNK = 16 * 1024


class MediaError(Exception):
    """The recording could not be fetched; says why without quoting its URL."""


def allowed(desk: Desk, url: str) -> bool:
    """Whether a recording URL is one of Twilio's (under the configured API base)."""
    return url.startswith(desk.media_base + "/2010-04-01/Accounts/") and ".." not in url and "?" not in url


def open_recording(desk: Desk, url: str) -> tuple[Iterator[bytes], dict[str, str]]:
    """The recording's bytes as they arrive, and the headers to answer with."""
    if not allowed(desk, url):
        raise MediaError("the recording is not at Twilio")
    sid, token = desk.settings.get("TWILIO_ACCOUNT_SID"), desk.settings.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise MediaError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to fetch recordings")
    if desk.http is None:
        desk.http = requests.Session()
    try:
        response = desk.http.get(url + FORMAT, auth=(sid, token), stream=True, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise MediaError(f"Twilio could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        response.close()
        raise MediaError(f"Twilio answered {response.status_code}")
    headers = {"Content-Type": MIMETYPE, "Cache-Control": "no-store"}
    if response.headers.get("Content-Length", "").isdigit():
        headers["Content-Length"] = response.headers["Content-Length"]

    def chunks() -> Iterator[bytes]:
        try:
            yield from response.iter_content(CHUNK)
        finally:
            response.close()

    return chunks(), headers
