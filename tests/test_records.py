"""Durable records (voicemails, callback and ride requests) and the admin commands over them."""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import ivr
from ivr.cli import common as cli_common
from ivr import records as rec
from ivr.cli import main
from ivr.stores.sqlite import SqliteStore

SUMMER = 1_717_200_000.5  # 2024-06-01 00:00:00.5 UTC = 2024-05-31 17:00 PDT
WINTER = 1_704_067_200.0  # 2024-01-01 00:00 UTC = 2023-12-31 16:00 PST

VOICEMAIL = rec.Voicemail(
    id="CA0001:voicemail", created_at=SUMMER, team="rides", language="es",
    summary="Necesito un viaje al médico el martes por la mañana, por favor",
    recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", duration=42,
)
CALLBACK = rec.CallbackRequest(
    id="CA0002:callback", created_at=SUMMER + 3600, team="front", language="en",
    summary="Wants a call back about a ride", number="+16265550100",
)
RIDE = rec.RideRequest(
    id="CA0003:ride", created_at=WINTER, team="rides", language="en", summary="Ride to the clinic",
    fields={"pickup": "12 Main St, Pasadena", "when": "2024-01-03T09:00", "riders": 2, "wheelchair": True},
)


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(str(tmp_path / "records.sqlite3"))
    yield opened
    opened.close()


# --- records ----------------------------------------------------------------------------


@pytest.mark.parametrize("record", [VOICEMAIL, CALLBACK, RIDE], ids=lambda r: r.kind)
def test_json_round_trip(record):
    blob = record.to_json()
    assert isinstance(blob, bytes)
    again = rec.from_json(blob)
    assert again == record
    assert type(again) is type(record)
    assert again.to_json() == blob


def test_a_voicemail_keeps_the_number_to_call_back():
    from ivr.flows.actions import ACTIONS

    params = {"team": "coordinators", "recording": "https://api.twilio.com/x", "duration": "12"}
    action = ACTIONS["save_voicemail"]
    assert action.record("CA1:vm", params, SUMMER, caller="+16265550199").number == "+16265550199"
    assert action.record("CA1:vm", params, SUMMER).number == ""
    assert action.record("CA1:vm", params, SUMMER, caller="anonymous").number == ""
    with pytest.raises(rec.RecordError):
        rec.Voicemail(id="v", created_at=SUMMER, recording_url="u", number="555-0100")


def test_json_holds_every_field_and_the_kind():
    assert json.loads(VOICEMAIL.to_json()) == {
        "kind": "voicemail", "id": "CA0001:voicemail", "created_at": SUMMER, "team": "rides",
        "language": "es", "summary": "Necesito un viaje al médico el martes por la mañana, por favor",
        "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "duration": 42,
        "number": "",
    }
    assert json.loads(CALLBACK.to_json())["number"] == "+16265550100"
    assert json.loads(RIDE.to_json())["fields"] == {
        "pickup": "12 Main St, Pasadena", "when": "2024-01-03T09:00", "riders": 2, "wheelchair": True,
    }


# As the records were written before their types were msgspec Structs (keys sorted, no spaces, UTF-8).
STORED = {
    "voicemail": (
        b'{"created_at":1717200000.5,"duration":42,"id":"CA0001:support-line:voicemail:4:2","kind":"voicemail",'
        b'"language":"es","recording_url":"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",'
        b'"summary":"Mensaje de voz: m\xc3\xa9dico","team":"coordinators"}'
    ),
    "callback": (
        b'{"created_at":1704067200.0,"id":"CA0002:support-line:callback:6:1","kind":"callback","language":"en",'
        b'"number":"+16265550100","summary":"Call back","team":"front"}'
    ),
    "ride": (
        b'{"created_at":1764000000.25,"fields":{"appt_ampm":"am","appt_date":"2026-12-15","appt_time":"0930",'
        b'"callback":"+16265550100","confirmation":"48213379","dob":"19470302","member_id":"98765432",'
        b'"mobility":"wheelchair","pickup_zip":"91101"},"id":"CA0003:support-line:book:7:3","kind":"ride",'
        b'"language":"en","summary":"","team":"transportation"}'
    ),
}


def test_records_stored_in_the_earlier_format_decode_to_the_same_bytes(store):
    voicemail, callback, ride = (rec.from_json(STORED[kind]) for kind in ("voicemail", "callback", "ride"))
    assert voicemail == rec.Voicemail(
        id="CA0001:support-line:voicemail:4:2", created_at=1717200000.5, team="coordinators", language="es",
        summary="Mensaje de voz: médico", recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        duration=42)
    assert callback == rec.CallbackRequest(id="CA0002:support-line:callback:6:1", created_at=1704067200.0,
                                           team="front", language="en", summary="Call back", number="+16265550100")
    assert isinstance(ride, rec.RideRequest) and ride.fields["confirmation"] == "48213379"
    for kind, blob in STORED.items():
        record = rec.from_json(blob)
        # A voicemail of the earlier format had no number to call back: it reads as none.
        again = blob.replace(b'"language":"es",', b'"language":"es","number":"",') if kind == "voicemail" else blob
        assert record.kind == kind and record.to_json() == again
        store.add_record(record.id, kind, record.created_at, blob)  # as the earlier code saved it
        assert rec.load(store, record.id) == record
    assert [record.kind for record in rec.load_all(store)] == ["ride", "voicemail", "callback"]


@pytest.mark.parametrize("record", [VOICEMAIL, CALLBACK, RIDE], ids=lambda r: r.kind)
def test_json_is_the_sorted_compact_json_of_every_field(record):
    expected = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert record.to_json() == expected


def test_kinds():
    assert (VOICEMAIL.kind, CALLBACK.kind, RIDE.kind) == ("voicemail", "callback", "ride")
    assert set(rec.KINDS) == {"voicemail", "callback", "ride"}


def test_created_at_is_a_float_and_converts_to_a_zone():
    record = rec.CallbackRequest(id="x", created_at=1_704_067_200, number="+442071838750")
    assert type(record.created_at) is float
    assert record.when().isoformat() == "2024-01-01T00:00:00+00:00"
    assert record.when(ZoneInfo("America/Los_Angeles")).isoformat() == "2023-12-31T16:00:00-08:00"


def test_unknown_json_keys_are_ignored():
    data = json.loads(CALLBACK.to_json())
    data["added_later"] = "anything"
    assert rec.from_dict(data) == CALLBACK


def test_ride_fields_are_copied():
    fields = {"pickup": "here"}
    ride = rec.RideRequest(id="r", created_at=WINTER, fields=fields)
    fields["pickup"] = "elsewhere"
    assert ride.fields == {"pickup": "here"}


@pytest.mark.parametrize(
    "make",
    [  # the wrong types are deliberate: a record made in Python is checked as one decoded from JSON
        lambda: rec.Voicemail(id="", created_at=SUMMER, recording_url="u"),
        lambda: rec.Voicemail(id="v", created_at=math.nan, recording_url="u"),
        lambda: rec.Voicemail(id="v", created_at="today", recording_url="u"),  # type: ignore[arg-type]
        lambda: rec.Voicemail(id="v", created_at=SUMMER, recording_url="u", duration=-1),
        lambda: rec.Voicemail(id="v", created_at=SUMMER, recording_url="u", duration=1.5),  # type: ignore[arg-type]
        lambda: rec.Voicemail(id="v", created_at=SUMMER, recording_url=None),  # type: ignore[arg-type]
        lambda: rec.Voicemail(id="v", created_at=SUMMER, recording_url="u", team=None),  # type: ignore[arg-type]
        lambda: rec.CallbackRequest(id="c", created_at=SUMMER, number="6265550100"),
        lambda: rec.CallbackRequest(id="c", created_at=SUMMER, number="+0123456"),
        lambda: rec.CallbackRequest(id="c", created_at=SUMMER, number="+1626555010012345"),
        lambda: rec.CallbackRequest(id="c", created_at=SUMMER, number="+1 626 555 0100"),
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields={"when": object()}),
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields={1: "one"}),  # type: ignore[dict-item]
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields=["pickup"]),  # type: ignore[arg-type]
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields={"miles": math.inf}),
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields={"stops": ("here", "there")}),
        lambda: rec.RideRequest(id="r", created_at=SUMMER, fields={"legs": {1: "out"}}),
    ],
)
def test_malformed_records_are_refused(make):
    with pytest.raises(rec.RecordError):
        make()


@pytest.mark.parametrize(
    "blob",
    [b"not json", b"[1, 2]", b'{"kind": "fax", "id": "f", "created_at": 1}',
     b'{"id": "v", "created_at": 1, "recording_url": "u"}',
     b'{"kind": "callback", "id": "c", "created_at": 1}'],
)
def test_json_that_is_no_record_is_refused(blob):
    with pytest.raises(rec.RecordError):
        rec.from_json(blob)


def test_save_and_load(store):
    assert rec.save(store, VOICEMAIL) is True
    assert rec.load(store, VOICEMAIL.id) == VOICEMAIL
    assert rec.load(store, "CAmissing:voicemail") is None
    assert store.get_record(VOICEMAIL.id) == ("voicemail", SUMMER, VOICEMAIL.to_json())


def test_save_never_overwrites(store):
    assert rec.save(store, CALLBACK) is True
    other = rec.CallbackRequest(id=CALLBACK.id, created_at=SUMMER + 60, number="+16265550199", summary="retry")
    assert rec.save(store, other) is False
    assert rec.load(store, CALLBACK.id) == CALLBACK


def test_load_all_newest_first_by_kind_and_limit(store):
    for record in (RIDE, VOICEMAIL, CALLBACK):
        rec.save(store, record)
    assert rec.load_all(store) == [CALLBACK, VOICEMAIL, RIDE]
    assert rec.load_all(store, "ride") == [RIDE]
    assert rec.load_all(store, kind="voicemail") == [VOICEMAIL]
    assert rec.load_all(store, limit=2) == [CALLBACK, VOICEMAIL]
    assert rec.load_all(store, limit=None) == [CALLBACK, VOICEMAIL, RIDE]


def test_load_all_refuses_an_unknown_kind(store):
    with pytest.raises(rec.RecordError, match="fax"):
        rec.load_all(store, "fax")


def test_load_all_names_a_record_it_cannot_read(store):
    store.add_record("CAbad:voicemail", "voicemail", SUMMER, b"{broken")
    with pytest.raises(rec.RecordError, match="CAbad:voicemail"):
        rec.load_all(store)


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 500])
def test_load_all_without_limit_pages_through_shared_times(store, monkeypatch, page_size):
    monkeypatch.setattr(rec, "PAGE_SIZE", page_size)
    times = [WINTER] * 4 + [WINTER + 1] + [WINTER + 2] * 3 + [WINTER - 1]
    for n, at in enumerate(times):
        kind = ("voicemail", "callback")[n % 2]
        record = (rec.Voicemail(id=f"r{n}", created_at=at, recording_url="u") if kind == "voicemail"
                  else rec.CallbackRequest(id=f"r{n}", created_at=at, number="+16265550100"))
        rec.save(store, record)
    expected = [row[0] for row in store.list_records(limit=100)]
    assert len(expected) == len(times)
    assert [r.id for r in rec.load_all(store, limit=None)] == expected
    assert [r.id for r in rec.load_all(store, "callback", limit=None)] == [
        row[0] for row in store.list_records("callback", limit=100)
    ]


CSV_HEADER = ["id", "kind", "created_at", "team", "language", "summary", "recording_url", "duration", "number",
              "fields"]


def test_csv_rows():
    rows = rec.to_csv_rows([CALLBACK, VOICEMAIL, RIDE])
    assert list(rec.CSV_COLUMNS) == CSV_HEADER
    assert all(list(row) == CSV_HEADER for row in rows)
    assert rows == [
        {"id": "CA0002:callback", "kind": "callback", "created_at": "2024-06-01T01:00:00+00:00", "team": "front",
         "language": "en", "summary": "Wants a call back about a ride", "recording_url": "", "duration": "",
         "number": "+16265550100", "fields": ""},
        {"id": "CA0001:voicemail", "kind": "voicemail", "created_at": "2024-06-01T00:00:00+00:00", "team": "rides",
         "language": "es", "summary": "Necesito un viaje al médico el martes por la mañana, por favor",
         "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "duration": "42",
         "number": "", "fields": ""},
        {"id": "CA0003:ride", "kind": "ride", "created_at": "2024-01-01T00:00:00+00:00", "team": "rides",
         "language": "en", "summary": "Ride to the clinic", "recording_url": "", "duration": "", "number": "",
         "fields": '{"pickup": "12 Main St, Pasadena", "riders": 2, "wheelchair": true, "when": "2024-01-03T09:00"}'},
    ]


def test_csv_rows_in_a_zone():
    rows = rec.to_csv_rows([RIDE, VOICEMAIL], ZoneInfo("America/Los_Angeles"))
    assert [row["created_at"] for row in rows] == ["2023-12-31T16:00:00-08:00", "2024-05-31T17:00:00-07:00"]
    assert rec.to_csv_rows([]) == []


# --- the admin commands ------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path, monkeypatch) -> Path:
    """An instance folder for the commands' default SQLite store, and no other settings."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("IVR_INSTANCE_PATH", str(folder))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("IVR_FLOWS_DIR", str(tmp_path / "no-flows-here"))  # the line's zone: the default
    return folder


@pytest.fixture
def saved(instance) -> Path:
    """The instance folder's store, holding the three sample records."""
    store = SqliteStore(str(instance / "ivr.sqlite3"))
    try:
        for record in (RIDE, VOICEMAIL, CALLBACK):
            assert rec.save(store, record)
    finally:
        store.close()
    return instance


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stdout(result) -> str:
    """Standard output exactly as written (result.stdout turns CRLF into LF)."""
    return result.stdout_bytes.decode()


def test_records_list(saved):
    result = run("records", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "TIME                  KIND       TEAM   LANG  STATUS  SUMMARY                                   ID",
        "2024-05-31 18:00 PDT  callback   front  en    new     Wants a call back about a ride            CA0002:callback",
        "2024-05-31 17:00 PDT  voicemail  rides  es    new     Necesito un viaje al médico el martes p…  CA0001:voicemail",
        "2023-12-31 16:00 PST  ride       rides  en    new     Ride to the clinic                        CA0003:ride",
    ]


def test_records_list_kind_and_limit(saved):
    result = run("records", "list", "--kind", "ride")
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.stdout.splitlines()[1:]] == ["CA0003:ride"]
    result = run("records", "list", "--limit", "2")
    assert [line.split()[-1] for line in result.stdout.splitlines()[1:]] == ["CA0002:callback", "CA0001:voicemail"]
    assert run("records", "list", "--kind", "fax").exit_code == 2
    assert run("records", "list", "--limit", "0").exit_code == 2


def test_records_list_when_empty(instance):
    result = run("records", "list", "--kind", "voicemail")
    assert result.exit_code == 0
    assert result.stdout == "no records of kind voicemail\n"


def teams_file(folder: Path, zone: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "teams.yaml").write_text(f"timezone: {zone}\nteams:\n  desk:\n    members:\n"
                                       "      - {name: Ana, phone: '+16265550100'}\n")
    return folder


def test_records_list_in_the_line_zone_of_the_teams_file(saved, monkeypatch, tmp_path):
    monkeypatch.setenv("IVR_FLOWS_DIR", str(teams_file(tmp_path / "flows", "America/New_York")))
    result = run("records", "list", "--kind", "ride")
    assert result.stdout.splitlines()[1].startswith("2023-12-31 19:00 EST  ride")


def test_records_show_every_field(saved):
    result = run("records", "show", "CA0003:ride")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "kind: ride",
        "id: CA0003:ride",
        "created_at: 2023-12-31T16:00:00-08:00 (1704067200.0)",
        "team: rides",
        "language: en",
        "summary: Ride to the clinic",
        "fields:",
        "  pickup: 12 Main St, Pasadena",
        "  riders: 2",
        "  wheelchair: True",
        "  when: 2024-01-03T09:00",
        "status: new",
    ]
    result = run("records", "show", "CA0001:voicemail")
    assert result.stdout.splitlines()[2:] == [
        "created_at: 2024-05-31T17:00:00-07:00 (1717200000.5)",
        "team: rides",
        "language: es",
        "summary: Necesito un viaje al médico el martes por la mañana, por favor",
        "recording_url: https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "duration: 42",
        "number: ",
        "status: new",
    ]
    assert "number: +16265550100" in run("records", "show", "CA0002:callback").stdout.splitlines()


def test_records_show_missing(saved):
    result = run("records", "show", "CAnope:voicemail")
    assert result.exit_code == 1
    assert "no record 'CAnope:voicemail'" in result.stderr


def test_records_export_csv(saved):
    result = run("records", "export", "--csv")
    assert result.exit_code == 0, result.output
    assert stdout(result) == (
        "id,kind,created_at,team,language,summary,recording_url,duration,number,fields\r\n"
        "CA0002:callback,callback,2024-05-31T18:00:00-07:00,front,en,Wants a call back about a ride,,,+16265550100,"
        "\r\n"
        "CA0001:voicemail,voicemail,2024-05-31T17:00:00-07:00,rides,es,"
        '"Necesito un viaje al médico el martes por la mañana, por favor",'
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1,42,,\r\n"
        "CA0003:ride,ride,2023-12-31T16:00:00-08:00,rides,en,Ride to the clinic,,,,"
        '"{""pickup"": ""12 Main St, Pasadena"", ""riders"": 2, ""wheelchair"": true, '
        '""when"": ""2024-01-03T09:00""}"\r\n'
    )
    parsed = list(csv.DictReader(io.StringIO(stdout(result), newline="")))
    assert parsed == rec.to_csv_rows([CALLBACK, VOICEMAIL, RIDE], ZoneInfo("America/Los_Angeles"))


def test_records_export_by_kind_and_empty(saved):
    result = run("records", "export", "--csv", "--kind", "voicemail")
    assert [row["id"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["CA0001:voicemail"]
    result = run("records", "export", "--csv", "--kind", "voicemail", "--store",
                 f"sqlite:///{saved.parent / 'empty.sqlite3'}")
    assert stdout(result) == "id,kind,created_at,team,language,summary,recording_url,duration,number,fields\r\n"


def test_records_export_to_a_file_is_readable_by_its_owner_alone(saved, tmp_path):
    import os
    import stat

    exported = run("records", "export", "--csv")
    target = tmp_path / "out" / "records.csv"
    target.parent.mkdir()
    target.write_text("an older export, readable by all")
    os.chmod(target, 0o644)
    previous = os.umask(0)  # a umask that takes nothing away
    try:
        result = run("records", "export", "--csv", "--output", str(target))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"3 records written to {target}\n"
    assert target.read_bytes() == exported.stdout_bytes
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(target.parent) == ["records.csv"]  # nothing half-written left beside it


def test_records_export_to_a_folder_that_is_not_there_says_so(saved, tmp_path):
    result = run("records", "export", "--csv", "-o", str(tmp_path / "missing" / "records.csv"))
    assert result.exit_code == 1
    assert f"cannot write {tmp_path / 'missing' / 'records.csv'}" in result.stderr


def test_records_export_needs_a_format(saved):
    result = run("records", "export")
    assert result.exit_code == 2
    assert "--csv" in result.stderr


def test_records_export_survives_summaries_with_commas_quotes_and_newlines(instance):
    store = SqliteStore(str(instance / "ivr.sqlite3"))
    record = rec.Voicemail(id='CA9:"odd", id', created_at=WINTER, summary='He said "hi",\nthen\r\nhung up',
                           recording_url="u")
    rec.save(store, record)
    store.close()
    result = run("records", "export", "--csv")
    (row,) = csv.DictReader(io.StringIO(stdout(result), newline=""))
    assert row["id"] == 'CA9:"odd", id'
    assert row["summary"] == 'He said "hi",\nthen\r\nhung up'


def test_coordinators(instance, monkeypatch):
    clock = iter([WINTER, WINTER + 60, WINTER + 120, SUMMER])
    monkeypatch.setattr(cli_common, "now", lambda: next(clock))
    assert run("coordinators", "list").stdout == "no coordinator has been marked available or away yet\n"

    result = run("coordinators", "available", "Ana Ruiz")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ana Ruiz is available since 2023-12-31 16:00 PST\n"
    assert result.stderr == f"(store: sqlite:///{str(instance / 'ivr.sqlite3').lstrip('/')})\n"
    assert run("coordinators", "away", "bo").stdout == "bo is away since 2023-12-31 16:01 PST\n"
    assert run("coordinators", "available", "Ana Ruiz").stdout == (
        "Ana Ruiz is already available since 2023-12-31 16:00 PST\n"
    )
    assert run("coordinators", "away", "Ana Ruiz").stdout == "Ana Ruiz is away since 2024-05-31 17:00 PDT\n"

    result = run("coordinators", "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "NAME      STATE  SINCE",
        "Ana Ruiz  away   2024-05-31 17:00 PDT",
        "bo        away   2023-12-31 16:01 PST",
    ]
    store = SqliteStore(str(instance / "ivr.sqlite3"))
    try:
        assert store.availability() == {"Ana Ruiz": (False, SUMMER), "bo": (False, WINTER + 60)}
    finally:
        store.close()


ROSTER = """
timezone: America/Los_Angeles
teams:
  coordinators:
    hours: {mon-fri: "08:00-18:00"}
    members:
      - {name: Ana Rivera, phone: "+16265550131", languages: [en, es]}
      - {name: Marcus Chen, phone: "+16265550142"}
      - {name: Dana Whitfield, phone: "+16265550119", active: false}
  transportation:
    members:
      - {name: Ana Rivera, phone: "+16265550131"}
"""


@pytest.fixture
def roster(instance, tmp_path, monkeypatch):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "teams.yaml").write_text(ROSTER)
    monkeypatch.setenv("IVR_FLOWS_DIR", str(folder))
    return folder


@pytest.mark.parametrize("typed, hint", [
    ("Marcos Chen", 'did you mean "Marcus Chen"?'),
    ("Marcus", 'did you mean "Marcus Chen"?'),
    ("Zed", 'coordinators: "Ana Rivera", "Dana Whitfield", "Marcus Chen"'),
])
def test_a_name_not_in_the_teams_file_is_refused_with_the_closest(roster, instance, typed, hint):
    result = run("coordinators", "away", typed)
    assert result.exit_code == 1
    assert f'no coordinator "{typed}" in {roster / "teams.yaml"}; {hint}' in result.stderr
    assert not (instance / "ivr.sqlite3").exists() or SqliteStore(str(instance / "ivr.sqlite3")).availability() == {}


def test_names_match_the_teams_file_in_any_case_and_the_list_is_the_whole_roster(roster, instance, monkeypatch):
    monkeypatch.setattr(cli_common, "now", lambda: SUMMER)  # a Friday, 17:00 in California
    result = run("coordinators", "away", "ana rivera")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ana Rivera is away since 2024-05-31 17:00 PDT\n"
    assert run("coordinators", "list").stdout.splitlines() == [
        "TEAM            NAME            ACTIVE  STATE      SINCE                 TEAM OPEN",
        "coordinators    Ana Rivera      yes     away       2024-05-31 17:00 PDT  yes",
        "coordinators    Marcus Chen     yes     available  -                     yes",
        "coordinators    Dana Whitfield  no      available  -                     yes",
        "transportation  Ana Rivera      yes     away       2024-05-31 17:00 PDT  yes",
    ]
    monkeypatch.setattr(cli_common, "now", lambda: SUMMER + 3600)  # 18:00: the coordinators have closed
    assert run("coordinators", "list").stdout.splitlines()[1].endswith("no")


def test_a_name_marked_before_the_roster_is_listed_as_not_in_it(roster, instance, monkeypatch):
    store = SqliteStore(str(instance / "ivr.sqlite3"))
    store.set_availability("ana", False, WINTER)
    store.close()
    monkeypatch.setattr(cli_common, "now", lambda: WINTER)
    lines = run("coordinators", "list").stdout.splitlines()
    assert lines[-1].split() == ["-", "ana", "(not", "in", "teams.yaml)", "-", "away", "2023-12-31", "16:00", "PST", "-"]


@pytest.mark.parametrize("name", ["", "   "])
def test_coordinator_name_cannot_be_empty(instance, name):
    result = run("coordinators", "available", name)
    assert result.exit_code == 2
    assert "cannot be empty" in result.stderr
    assert not (instance / "ivr.sqlite3").exists()


def test_store_option_and_redis_url_choose_the_store(instance, tmp_path, monkeypatch):
    other = tmp_path / "other.sqlite3"
    assert run("coordinators", "available", "Ana", "--store", f"sqlite:///{other}").exit_code == 0
    assert run("coordinators", "list").stdout.startswith("no coordinator")
    assert run("coordinators", "list", "--store", f"sqlite:///{other}").stdout.startswith("NAME")
    monkeypatch.setenv("REDIS_URL", f"sqlite:///{other}")
    assert "Ana" in run("coordinators", "list").stdout
    assert run("coordinators", "list", "--store", f"sqlite:///{instance / 'ivr.sqlite3'}").stdout.startswith("no")


def test_default_instance_folder_is_the_web_apps(monkeypatch):
    monkeypatch.delenv("IVR_INSTANCE_PATH", raising=False)
    assert cli_common.instance_path() == str(Path(ivr.__file__).resolve().parent.parent / "instance")
    monkeypatch.setenv("IVR_INSTANCE_PATH", "/somewhere/else")
    assert cli_common.instance_path() == "/somewhere/else"


def test_bad_store_url_is_an_error(instance):
    result = run("records", "list", "--store", "ftp://example.com/")
    assert result.exit_code == 1
    assert "unknown store URL scheme" in result.stderr


def test_unavailable_store_is_an_error_not_a_traceback(instance):
    instance.mkdir()
    (instance / "ivr.sqlite3").write_bytes(b"this is not a database" * 100)
    for args in (["records", "list"], ["records", "show", "x"], ["records", "export", "--csv"],
                 ["coordinators", "away", "Ana"], ["coordinators", "list"]):
        result = run(*args)
        assert result.exit_code == 1, args
        assert "the store is unavailable" in result.stderr


def test_bad_zone_is_an_error(saved, monkeypatch, tmp_path):
    monkeypatch.setenv("IVR_FLOWS_DIR", str(teams_file(tmp_path / "flows", "Mars/Olympus_Mons")))
    result = run("records", "list")
    assert result.exit_code == 1
    assert 'unknown time zone "Mars/Olympus_Mons"' in result.stderr and "teams.yaml" in result.stderr


@pytest.mark.redis
def test_commands_against_redis(redis_url, monkeypatch, tmp_path):
    from ivr.stores.redis import RedisStore

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("IVR_INSTANCE_PATH", str(tmp_path / "unused"))
    monkeypatch.setenv("IVR_FLOWS_DIR", str(tmp_path / "no-flows-here"))
    monkeypatch.setattr(cli_common, "now", lambda: WINTER)
    tag = uuid.uuid4().hex
    mine = [
        rec.Voicemail(id=f"CA{tag}:voicemail", created_at=SUMMER, team="rides", summary="redis voicemail",
                      recording_url="u", duration=3),
        rec.CallbackRequest(id=f"CA{tag}:callback", created_at=SUMMER + 1, summary="redis callback",
                            number="+16265550100"),
    ]
    coordinator = f"Coordinator {tag}"
    store = RedisStore.from_url(redis_url)
    try:
        for record in mine:
            assert rec.save(store, record)

        listed = run("records", "list", "--limit", "1000").stdout.splitlines()
        ids = [line.split()[-1] for line in listed[1:]]
        assert ids.index(mine[1].id) < ids.index(mine[0].id)
        assert run("records", "show", mine[0].id).stdout.splitlines()[-4:] == ["recording_url: u", "duration: 3",
                                                                                "number: ", "status: new"]
        exported = list(csv.DictReader(io.StringIO(run("records", "export", "--csv").stdout, newline="")))
        assert {row["id"]: row["summary"] for row in exported if tag in row["id"]} == {
            mine[0].id: "redis voicemail", mine[1].id: "redis callback",
        }

        result = run("coordinators", "available", coordinator)
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("(store: redis://")
        (line,) = [line for line in run("coordinators", "list").stdout.splitlines() if line.startswith(coordinator)]
        assert line[len(coordinator):].split() == ["available", "2023-12-31", "16:00", "PST"]
        assert store.availability()[coordinator] == (True, WINTER)
        assert not (tmp_path / "unused").exists()
    finally:
        # The records keys are shared with anything else in this database: remove only ours.
        for record in mine:
            store.client.hdel(store.records_key("data"), record.id)
            store.client.zrem(store.records_key("time"), record.id)
            store.client.zrem(store.records_key(f"kind:{record.kind}"), record.id)
            item = store.work_item(record.id)
            if item is not None:
                store.untrack(item)
        store.client.hdel(store.availability_key(), coordinator)
        store.close()
