"""The LINK Mobility (PSWin XML) SMS provider against a fake gateway on loopback (docs/compatibility.md C12).
No database."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from starlette.responses import Response

from altinn_notifications.providers.base import RetrySchedule, SmsMessage
from altinn_notifications.providers.sms.linkmobility import (
    MAX_CONNECTIONS,
    REPORT_STATE,
    LinkMobilitySmsProvider,
    XmlRejected,
    build_send_request,
    classify_send_response,
    gateway_number,
    gateway_sender,
    parse_delivery_reports,
    report_acknowledgement,
)
from tests.loopback import free_port, serve
from tests.providers.fake_linkmobility import PASSWORD, USERNAME, FakeGateway, report_xml, session_response


def _sms(
    number: str = "+4799999999", body: str = "Hei", sender: str = "Altinn", ttl: int | None = None
) -> SmsMessage:
    if ttl is None:
        return SmsMessage(notification_id=uuid4(), sender=sender, mobile_number=number, body=body)
    return SmsMessage(
        notification_id=uuid4(), sender=sender, mobile_number=number, body=body, time_to_live_seconds=ttl
    )


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, LinkMobilitySmsProvider]]:
    fake = FakeGateway()
    async with serve(fake.app) as url:
        provider = LinkMobilitySmsProvider(url + "/", USERNAME, PASSWORD, timeout=2.0)
        try:
            yield fake, provider
        finally:
            await provider.close()


async def test_accepted_with_gateway_reference(gateway: tuple[FakeGateway, LinkMobilitySmsProvider]) -> None:
    fake, provider = gateway
    outcome = await provider.send(_sms())
    assert outcome.result == "Accepted" and outcome.reference and not outcome.transient
    request = fake.requests[0]
    assert request["CLIENT"] == USERNAME
    assert (request["ID"], request["TEXT"], request["SND"], request["RCV"]) == (
        "1",
        "Hei",
        "Altinn",
        "4799999999",
    )
    assert request["TTL"] == "2880"  # 48 hours in minutes
    assert request["RCPREQ"] == "Y"
    assert "OP" not in request


@pytest.mark.parametrize(
    ("number", "result"),
    [("+4741000001", "Failed_InvalidRecipient"), ("+4741000003", "Failed")],
)
async def test_refusals(
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider], number: str, result: str
) -> None:
    _, provider = gateway
    outcome = await provider.send(_sms(number))
    assert (outcome.result, outcome.transient, outcome.reference) == (result, False, None)


async def test_http_error_is_a_gateway_error(gateway: tuple[FakeGateway, LinkMobilitySmsProvider]) -> None:
    _, provider = gateway
    outcome = await provider.send(_sms("+4741000500"))
    assert outcome.transient and outcome.detail == "gateway http 500"
    assert provider.retry_schedule == RetrySchedule((300.0, 600.0, 900.0, 1800.0), "Failed")


async def test_logon_failure_and_unreadable_answers_are_gateway_errors(
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
) -> None:
    fake, provider = gateway
    fake.queue(session_response(logon="FAIL"))
    fake.queue(Response("<html>oops", media_type="text/html"))
    fake.queue(Response("<SESSION><LOGON>OK</LOGON></SESSION>", media_type="application/xml"))
    for _ in range(3):
        assert (await provider.send(_sms())).transient


async def test_wrong_password_is_a_logon_failure() -> None:
    fake = FakeGateway()
    async with serve(fake.app) as url:
        provider = LinkMobilitySmsProvider(url + "/", USERNAME, "wrong", timeout=2.0)
        try:
            outcome = await provider.send(_sms())
        finally:
            await provider.close()
    assert outcome.transient and outcome.detail == "gateway logon failed"


async def test_timeout_and_connection_refused_are_gateway_errors() -> None:
    fake = FakeGateway(delay=1.0)
    async with serve(fake.app) as url:
        slow = LinkMobilitySmsProvider(url + "/", USERNAME, PASSWORD, timeout=0.2)
        try:
            assert (await slow.send(_sms())).transient
        finally:
            await slow.close()
    closed = LinkMobilitySmsProvider(f"http://127.0.0.1:{free_port()}/", USERNAME, PASSWORD, timeout=1.0)
    try:
        outcome = await closed.send(_sms())
    finally:
        await closed.close()
    assert outcome.transient and outcome.detail == "gateway ConnectError"


def test_request_document() -> None:
    xml = build_send_request(
        "user", "pa<ss", _sms("0047 999 99 999", "Hei på deg", "Skatteetaten-Norge", ttl=300)
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='iso-8859-1'?>")
    root = ET.fromstring(xml)
    assert root.findtext("PW") == "pa<ss"
    msg = root.find("MSGLST/MSG")
    assert msg is not None
    assert msg.findtext("RCV") == "4799999999"
    assert msg.findtext("SND") == "Skatteetate"  # 11 characters
    assert msg.findtext("TEXT") == "Hei på deg"  # å is GSM-7: plain text, latin-1 on the wire
    assert msg.findtext("TTL") == "5"


def test_unicode_text_is_sent_as_ucs2_hex() -> None:
    root = ET.fromstring(build_send_request("u", "p", _sms(body="Hei 😀 ś")))
    msg = root.find("MSGLST/MSG")
    assert msg is not None
    assert msg.findtext("OP") == "9"
    assert msg.findtext("TEXT") == "Hei 😀 ś".encode("utf-16-be").hex().upper()


def test_gsm_characters_outside_latin1_are_character_references() -> None:
    xml = build_send_request("u", "p", _sms(body="Pris 10€ ΔΩ"))
    assert b"&#8364;" in xml and b"&#916;" in xml
    msg = ET.fromstring(xml).find("MSGLST/MSG")
    assert msg is not None and msg.findtext("TEXT") == "Pris 10€ ΔΩ" and msg.find("OP") is None


def test_numbers_and_senders() -> None:
    assert gateway_number("+47 41 00 00 01") == "4741000001"
    assert gateway_number("004741000001") == "4741000001"
    assert gateway_sender("+4712345678") == "4712345678"
    assert gateway_sender("Altinn") == "Altinn"
    assert gateway_sender("A very long sender name") == "A very long"


def test_response_parsing() -> None:
    ok = b"<SESSION><LOGON>OK</LOGON><REASON/><MSGLST><MSG><ID>1</ID><REF>abc</REF><STATUS>OK</STATUS><INFO/></MSG></MSGLST></SESSION>"
    assert classify_send_response(ok).reference == "abc"
    invalid = b"<SESSION><LOGON>OK</LOGON><MSGLST><MSG><ID>1</ID><STATUS>FAIL</STATUS><INFO>Invalid RCV</INFO></MSG></MSGLST></SESSION>"
    assert classify_send_response(invalid).result == "Failed_InvalidRecipient"


# --- delivery reports (docs/compatibility.md C12) ---


@pytest.mark.parametrize(("state", "result"), sorted(REPORT_STATE.items()))
def test_report_state_mapping(state: str, result: str) -> None:
    parsed = parse_delivery_reports(report_xml([("7", "ref-1", state)]))
    assert [(r.reference, r.result) for r in parsed.reports] == [("ref-1", result)]
    assert parsed.ids == ["7"]
    assert parsed.reports[0].raw == {
        "reference": "ref-1",
        "receiver": "4799999999",
        "state": state,
        "deliveryTime": "2026.11.27 12:00:00",
    }


def test_every_documented_state_is_mapped() -> None:
    assert set(REPORT_STATE) == {
        "DELIVRD",
        "EXPIRED",
        "DELETED",
        "UNDELIV",
        "REJECTD",
        "FAILED",
        "NULL",
        "UNKNOWN",
        "BARRED",
    }


def test_unknown_state_and_missing_reference_are_rejected() -> None:
    parsed = parse_delivery_reports(
        report_xml([("1", "r1", "WEIRD"), ("2", "", "DELIVRD"), ("3", "r3", "DELIVRD")])
    )
    assert [r.reference for r in parsed.reports] == ["r3"]
    assert [r.reason for r in parsed.rejected] == [
        "UNRECOGNIZED_SEND_RESULT",
        "INVALID_NOTIFICATION_IDENTIFIER",
    ]
    assert parsed.ids == ["1", "2", "3"]  # every message is acknowledged


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<OTHER/>",
        b"<MSGLST></MSGLST>",
        b'<?xml version="1.0"?><!DOCTYPE MSGLST [<!ENTITY a "aaaa">]><MSGLST><MSG><REF>&a;</REF></MSG></MSGLST>',
    ],
)
def test_malformed_reports_are_refused(body: bytes) -> None:
    with pytest.raises(XmlRejected):
        parse_delivery_reports(body)


def test_acknowledgement() -> None:
    ack = report_acknowledgement(["1", "2"])
    assert ack == (
        b'<?xml version="1.0"?>\n<MSGLST><MSG><ID>1</ID><STATUS>OK</STATUS></MSG>'
        b"<MSG><ID>2</ID><STATUS>OK</STATUS></MSG></MSGLST>"
    )


# --- batches: many MSG in one SESSION, each answered under its ID ---


async def test_a_batch_is_one_request_and_each_message_keeps_its_own_result(
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
) -> None:
    fake, provider = gateway
    numbers = ["+4799000001", "+4741000001", "+4799000002", "+4741000003", "+4799000003"]
    outcomes = await provider.send_batch([_sms(n) for n in numbers])
    assert len(fake.raw) == 1, "one request for the whole batch"
    assert [r["ID"] for r in fake.requests] == ["1", "2", "3", "4", "5"]
    assert [r["RCV"] for r in fake.requests] == [gateway_number(n) for n in numbers]
    assert [o.result for o in outcomes] == [
        "Accepted",
        "Failed_InvalidRecipient",
        "Accepted",
        "Failed",
        "Accepted",
    ]
    references = [o.reference for o in outcomes if o.result == "Accepted"]
    assert len(set(references)) == 3 and None not in references
    assert not any(o.transient for o in outcomes)


async def test_batch_answers_are_matched_by_id_not_by_position(
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
) -> None:
    """The gateway reports each message under its ID; the order of the answer does not matter, and a
    message it does not mention is retried (transient), not taken for accepted or failed."""
    fake, provider = gateway
    body = (
        '<?xml version="1.0"?><SESSION><LOGON>OK</LOGON><REASON></REASON><MSGLST>'
        "<MSG><ID>3</ID><REF>ref-3</REF><STATUS>OK</STATUS><INFO></INFO></MSG>"
        "<MSG><ID>1</ID><STATUS>FAIL</STATUS><INFO>Invalid RCV: too short</INFO></MSG>"
        "</MSGLST></SESSION>"
    )
    fake.queue(Response(body, media_type="application/xml"))
    first, second, third = await provider.send_batch([_sms(), _sms(), _sms()])
    assert first.result == "Failed_InvalidRecipient" and not first.transient
    assert second.transient and second.result == "Failed_TransientError"
    assert (third.result, third.reference) == ("Accepted", "ref-3")


async def test_a_gateway_error_makes_every_message_of_its_batch_transient(
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
) -> None:
    fake, provider = gateway
    fake.outage = 503
    outcomes = await provider.send_batch([_sms(), _sms(), _sms()])
    assert [o.transient for o in outcomes] == [True, True, True]
    fake.outage = None
    fake.queue(session_response(logon="FAIL"))
    outcomes = await provider.send_batch([_sms(), _sms()])
    assert [o.detail for o in outcomes] == ["gateway logon failed"] * 2


def test_a_batch_request_numbers_its_messages() -> None:
    root = ET.fromstring(build_send_request("u", "p", [_sms("+4799000001"), _sms("+4799000002", "Hei 😀")]))
    messages = root.findall("MSGLST/MSG")
    assert [m.findtext("ID") for m in messages] == ["1", "2"]
    assert [m.findtext("RCV") for m in messages] == ["4799000001", "4799000002"]
    assert messages[0].findtext("OP") is None and messages[1].findtext("OP") == "9"


async def test_small_batches_open_at_most_max_connections_and_lower_the_sms_in_flight_to_match() -> None:
    default = LinkMobilitySmsProvider("http://127.0.0.1:9/", USERNAME, PASSWORD)
    assert (default.batch_size, default.max_in_flight) == (250, 4000)  # 16 connections: not capped
    await default.close()
    fake = FakeGateway(delay=0.3)
    async with serve(fake.app) as url:
        provider = LinkMobilitySmsProvider(url + "/", USERNAME, PASSWORD, timeout=5.0, batch_size=1)
        try:
            # The dispatch sends at most `max_in_flight` at once; even more at once queue for a connection.
            assert provider.max_in_flight == MAX_CONNECTIONS
            outcomes = await asyncio.gather(*(provider.send(_sms()) for _ in range(MAX_CONNECTIONS + 36)))
        finally:
            await provider.close()
    assert [o.result for o in outcomes] == ["Accepted"] * (MAX_CONNECTIONS + 36)
    assert 1 < fake.in_flight_peak <= MAX_CONNECTIONS  # 100 at once without the cap
