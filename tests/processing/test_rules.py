"""Pure rules of notification generation (docs/compatibility.md C10, C20): no database, no network."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.processing import rules
from altinn_notifications.processing.service import generate
from altinn_notifications.recipients.models import ResolvedRecipient

OSLO = ZoneInfo("Europe/Oslo")
H48 = timedelta(hours=48)


def oslo(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """A moment given in Oslo wall time, returned in UTC (as orders carry it)."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=OSLO).astimezone(UTC)


def window_start_utc(day: date) -> datetime:
    """09:00 Oslo time on `day`, as a UTC instant."""
    return datetime.combine(day, time(9), tzinfo=OSLO).astimezone(UTC)


# --- SMS expiry: the daytime rule (docs/compatibility.md C10) ---


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        # before the window: that day's 09:00 + 48 h
        (oslo(2026, 11, 27, 8, 59, 59), window_start_utc(date(2026, 11, 27)) + H48),
        (oslo(2026, 11, 27, 0, 0, 0), window_start_utc(date(2026, 11, 27)) + H48),
        # exactly 09:00 is not inside the window: the next day's 09:00 + 48 h (= that day's 09:00 + 72 h)
        (oslo(2026, 11, 27, 9, 0, 0), window_start_utc(date(2026, 11, 28)) + H48),
        # strictly inside (09:00, 17:00): the requested time + 48 h
        (oslo(2026, 11, 27, 9, 0, 1), oslo(2026, 11, 27, 9, 0, 1) + H48),
        (oslo(2026, 11, 27, 9, 0, 0, 1), oslo(2026, 11, 27, 9, 0, 0, 1) + H48),
        (oslo(2026, 11, 27, 12, 0, 0), oslo(2026, 11, 27, 12, 0, 0) + H48),
        (oslo(2026, 11, 27, 16, 59, 59), oslo(2026, 11, 27, 16, 59, 59) + H48),
        # from 17:00 on: the next day's 09:00 + 48 h
        (oslo(2026, 11, 27, 17, 0, 0), window_start_utc(date(2026, 11, 28)) + H48),
        (oslo(2026, 11, 27, 23, 30, 0), window_start_utc(date(2026, 11, 28)) + H48),
        # summer time (UTC+2) behaves the same in local terms
        (oslo(2026, 7, 1, 8, 59, 59), window_start_utc(date(2026, 7, 1)) + H48),
        (oslo(2026, 7, 1, 16, 59, 59), oslo(2026, 7, 1, 16, 59, 59) + H48),
        (oslo(2026, 7, 1, 17, 0, 0), window_start_utc(date(2026, 7, 2)) + H48),
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
)
def test_daytime_sms_expiry_boundaries(requested: datetime, expected: datetime) -> None:
    assert rules.sms_expiry(requested, SendingTimePolicy.Daytime) == expected


def test_daytime_rule_uses_the_oslo_date_not_the_utc_date() -> None:
    # 23:30 UTC on the 27th is 00:30 on the 28th in Oslo: before that (local) day's window.
    requested = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert (
        rules.sms_expiry(requested, SendingTimePolicy.Daytime) == window_start_utc(date(2026, 11, 28)) + H48
    )
    assert rules.sms_expiry(requested, SendingTimePolicy.Daytime) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_daytime_expiry_examples_in_utc() -> None:
    """The same rule in plain numbers (winter: Oslo = UTC+1; summer: UTC+2)."""
    daytime = SendingTimePolicy.Daytime
    assert rules.sms_expiry(datetime(2026, 1, 15, 7, 0, tzinfo=UTC), daytime) == datetime(
        2026, 1, 17, 8, 0, tzinfo=UTC
    )
    assert rules.sms_expiry(datetime(2026, 1, 15, 10, 0, tzinfo=UTC), daytime) == datetime(
        2026, 1, 17, 10, 0, tzinfo=UTC
    )
    assert rules.sms_expiry(datetime(2026, 1, 15, 16, 0, tzinfo=UTC), daytime) == datetime(
        2026, 1, 18, 8, 0, tzinfo=UTC
    )
    assert rules.sms_expiry(datetime(2026, 6, 15, 16, 0, tzinfo=UTC), daytime) == datetime(
        2026, 6, 18, 7, 0, tzinfo=UTC
    )


# DST in 2026: summer time starts Sunday 29 March 01:00 UTC, ends Sunday 25 October 01:00 UTC. Outside the
# window the reference adds the 48 or 72 hours to the Oslo wall-clock 09:00 and then converts to UTC, so
# the expiry is 09:00 local also when a DST change lies in between (47 or 49 elapsed hours).
@pytest.mark.parametrize(
    ("requested", "expiry_day"),
    [
        # spring: CET → CEST
        (oslo(2026, 3, 28, 8, 0), date(2026, 3, 30)),  # Sat before 09:00: that day 09:00 + 48 h
        (oslo(2026, 3, 28, 0, 30), date(2026, 3, 30)),
        (oslo(2026, 3, 27, 17, 0), date(2026, 3, 30)),  # Fri at 17:00: that day 09:00 + 72 h
        (oslo(2026, 3, 28, 18, 0), date(2026, 3, 31)),  # Sat after 17:00
        (oslo(2026, 3, 28, 23, 30), date(2026, 3, 31)),
        (oslo(2026, 3, 28, 9, 0), date(2026, 3, 31)),  # exactly 09:00 counts as outside
        (oslo(2026, 3, 29, 8, 0), date(2026, 3, 31)),  # on the day of the change, after it
        # autumn: CEST → CET
        (oslo(2026, 10, 24, 8, 0), date(2026, 10, 26)),  # Sat before 09:00
        (oslo(2026, 10, 23, 17, 0), date(2026, 10, 26)),  # Fri at 17:00
        (oslo(2026, 10, 24, 18, 0), date(2026, 10, 27)),  # Sat after 17:00
        (oslo(2026, 10, 24, 23, 30), date(2026, 10, 27)),
        (oslo(2026, 10, 25, 8, 0), date(2026, 10, 27)),  # on the day of the change, after it
    ],
    ids=lambda v: v.isoformat(),
)
def test_daytime_expiry_outside_the_window_is_09_oslo_time_across_a_dst_change(
    requested: datetime, expiry_day: date
) -> None:
    expiry = rules.sms_expiry(requested, SendingTimePolicy.Daytime)
    assert expiry == window_start_utc(expiry_day)
    assert expiry.astimezone(OSLO).time() == time(9)


def test_daytime_expiry_across_a_dst_change_in_utc() -> None:
    """The issue's example and its spring mirror, in plain numbers."""
    daytime = SendingTimePolicy.Daytime
    # Sat 24 Oct 18:00 CEST → Tue 27 Oct 09:00 CET = 08:00 UTC (elapsed hours would give 07:00 UTC).
    assert rules.sms_expiry(datetime(2026, 10, 24, 16, 0, tzinfo=UTC), daytime) == datetime(
        2026, 10, 27, 8, 0, tzinfo=UTC
    )
    # Sat 28 Mar 08:00 CET → Mon 30 Mar 09:00 CEST = 07:00 UTC (elapsed hours would give 08:00 UTC).
    assert rules.sms_expiry(datetime(2026, 3, 28, 7, 0, tzinfo=UTC), daytime) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )


def test_daytime_expiry_inside_the_window_across_a_dst_change() -> None:
    requested = oslo(2026, 3, 28, 12, 0)  # Saturday noon CET
    expiry = rules.sms_expiry(requested, SendingTimePolicy.Daytime)
    assert expiry == datetime(2026, 3, 30, 11, 0, tzinfo=UTC)  # 48 elapsed hours: 13:00 CEST on Monday
    requested = oslo(2026, 10, 24, 12, 0)  # Saturday noon CEST
    assert rules.sms_expiry(requested, SendingTimePolicy.Daytime) == datetime(2026, 10, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("policy", [SendingTimePolicy.Daytime, None])
def test_expiry_depends_on_the_instant_not_on_the_time_zone_it_is_given_in(
    policy: SendingTimePolicy | None,
) -> None:
    """The same instant given in UTC or in Oslo time yields the same expiry. (Python adds a timedelta to
    a `ZoneInfo`-aware datetime in wall time, so 48 h across a DST change is 47 or 49 elapsed hours.)"""
    requested = oslo(2026, 3, 28, 12, 0)  # inside the window, 48 h before a moment after the change
    assert rules.sms_expiry(requested.astimezone(OSLO), policy) == rules.sms_expiry(requested, policy)
    assert rules.email_expiry(requested.astimezone(OSLO)) == rules.email_expiry(requested)


@pytest.mark.parametrize("policy", [SendingTimePolicy.Anytime, None])
@pytest.mark.parametrize(
    "requested",
    [
        oslo(2026, 11, 27, 3, 0),
        oslo(2026, 11, 27, 9, 0),
        oslo(2026, 11, 27, 12, 0),
        oslo(2026, 11, 27, 17, 0),
        oslo(2026, 11, 27, 23, 30),
        oslo(2026, 3, 28, 23, 30),
    ],
    ids=lambda v: v.isoformat(),
)
def test_anytime_and_unset_policy_expire_48_hours_after_the_requested_time(
    requested: datetime, policy: SendingTimePolicy | None
) -> None:
    assert rules.sms_expiry(requested, policy) == requested + H48


@pytest.mark.parametrize(
    "requested", [oslo(2026, 11, 27, 3, 0), oslo(2026, 11, 27, 23, 30), oslo(2026, 3, 28, 12, 0)]
)
def test_email_expires_48_hours_after_the_requested_time(requested: datetime) -> None:
    assert rules.email_expiry(requested) == requested + H48


# --- the SMS sending window ---


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (oslo(2026, 11, 27, 8, 59, 59), False),
        (oslo(2026, 11, 27, 9, 0, 0), False),
        (oslo(2026, 11, 27, 9, 0, 0, 1), True),
        (oslo(2026, 11, 27, 9, 0, 1), True),
        (oslo(2026, 11, 27, 12, 0, 0), True),
        (oslo(2026, 11, 27, 16, 59, 59), True),
        (oslo(2026, 11, 27, 16, 59, 59, 999999), True),
        (oslo(2026, 11, 27, 17, 0, 0), False),
        (oslo(2026, 11, 27, 23, 30, 0), False),
        # around the DST changes: the window follows Oslo wall time
        (datetime(2026, 3, 28, 7, 30, tzinfo=UTC), False),  # 08:30 CET
        (datetime(2026, 3, 29, 7, 30, tzinfo=UTC), True),  # 09:30 CEST
        (datetime(2026, 3, 29, 15, 30, tzinfo=UTC), False),  # 17:30 CEST
        (datetime(2026, 10, 24, 7, 30, tzinfo=UTC), True),  # 09:30 CEST
        (datetime(2026, 10, 25, 7, 30, tzinfo=UTC), False),  # 08:30 CET
        (datetime(2026, 10, 25, 15, 30, tzinfo=UTC), True),  # 16:30 CET
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
)
def test_is_daytime_boundaries(moment: datetime, open_: bool) -> None:
    assert rules.is_daytime(moment) is open_
    assert rules.is_daytime(moment.astimezone(OSLO)) is open_


# --- channel split (docs/compatibility.md C10) ---

ONLY_EMAIL = ResolvedRecipient(national_identity_number="16069412345", emails=["a@example.no"])
ONLY_SMS = ResolvedRecipient(organization_number="810419652", mobile_numbers=["+4799999999"])
BOTH = ResolvedRecipient(
    external_identity="urn:altinn:person:idporten-email:x@example.no",
    emails=["b@example.no", "c@example.no"],
    mobile_numbers=["+4798888888"],
    is_reserved=False,
)
NEITHER = ResolvedRecipient(national_identity_number="01010112345", is_reserved=True)


def _addresses(recipients: list[ResolvedRecipient]) -> list[tuple[list[str], list[str]]]:
    return [(r.emails, r.mobile_numbers) for r in recipients]


def _identity(r: ResolvedRecipient) -> tuple[str | None, str | None, str | None, bool | None]:
    return (r.national_identity_number, r.organization_number, r.external_identity, r.is_reserved)


ALL = [ONLY_EMAIL, ONLY_SMS, BOTH, NEITHER]


def test_split_email_keeps_everyone_with_only_email_addresses() -> None:
    email, sms = rules.split_by_channel(NotificationChannel.Email, ALL)
    assert sms == []
    assert [_identity(r) for r in email] == [_identity(r) for r in ALL]
    assert _addresses(email) == [
        (["a@example.no"], []),
        ([], []),
        (["b@example.no", "c@example.no"], []),
        ([], []),
    ]


def test_split_sms_keeps_everyone_with_only_mobile_numbers() -> None:
    email, sms = rules.split_by_channel(NotificationChannel.Sms, ALL)
    assert email == []
    assert [_identity(r) for r in sms] == [_identity(r) for r in ALL]
    assert _addresses(sms) == [([], []), ([], ["+4799999999"]), ([], ["+4798888888"]), ([], [])]


def test_split_email_and_sms_gives_everyone_a_part_on_each_channel() -> None:
    email, sms = rules.split_by_channel(NotificationChannel.EmailAndSms, ALL)
    assert [_identity(r) for r in email] == [_identity(r) for r in ALL]
    assert [_identity(r) for r in sms] == [_identity(r) for r in ALL]
    assert _addresses(email) == [
        (["a@example.no"], []),
        ([], []),
        (["b@example.no", "c@example.no"], []),
        ([], []),
    ]
    assert _addresses(sms) == [([], []), ([], ["+4799999999"]), ([], ["+4798888888"]), ([], [])]


def test_split_email_preferred() -> None:
    """Preferred list: has an email, or has neither; fallback list: has a mobile. Both → both lists."""
    email, sms = rules.split_by_channel(NotificationChannel.EmailPreferred, ALL)
    assert [_identity(r) for r in email] == [_identity(ONLY_EMAIL), _identity(BOTH), _identity(NEITHER)]
    assert _addresses(email) == [(["a@example.no"], []), (["b@example.no", "c@example.no"], []), ([], [])]
    assert [_identity(r) for r in sms] == [_identity(ONLY_SMS), _identity(BOTH)]
    assert _addresses(sms) == [([], ["+4799999999"]), ([], ["+4798888888"])]


def test_split_sms_preferred() -> None:
    email, sms = rules.split_by_channel(NotificationChannel.SmsPreferred, ALL)
    assert [_identity(r) for r in sms] == [_identity(ONLY_SMS), _identity(BOTH), _identity(NEITHER)]
    assert _addresses(sms) == [([], ["+4799999999"]), ([], ["+4798888888"]), ([], [])]
    assert [_identity(r) for r in email] == [_identity(ONLY_EMAIL), _identity(BOTH)]
    assert _addresses(email) == [(["a@example.no"], []), (["b@example.no", "c@example.no"], [])]


@pytest.mark.parametrize(
    ("channel", "recipient", "on_email", "on_sms"),
    [
        (NotificationChannel.EmailPreferred, ONLY_EMAIL, True, False),
        (NotificationChannel.EmailPreferred, ONLY_SMS, False, True),
        (NotificationChannel.EmailPreferred, BOTH, True, True),
        (NotificationChannel.EmailPreferred, NEITHER, True, False),
        (NotificationChannel.SmsPreferred, ONLY_EMAIL, True, False),
        (NotificationChannel.SmsPreferred, ONLY_SMS, False, True),
        (NotificationChannel.SmsPreferred, BOTH, True, True),
        (NotificationChannel.SmsPreferred, NEITHER, False, True),
    ],
)
def test_preferred_split_per_recipient(
    channel: NotificationChannel, recipient: ResolvedRecipient, on_email: bool, on_sms: bool
) -> None:
    email, sms = rules.split_by_channel(channel, [recipient])
    assert (len(email), len(sms)) == (int(on_email), int(on_sms))


def test_split_never_mutates_the_input() -> None:
    recipient = ResolvedRecipient(emails=["a@example.no"], mobile_numbers=["+4799999999"])
    for channel in NotificationChannel:
        email, sms = rules.split_by_channel(channel, [recipient])
        for part in email + sms:
            assert part is not recipient
            part.emails.append("x")
            part.mobile_numbers.append("y")
    assert recipient.emails == ["a@example.no"]
    assert recipient.mobile_numbers == ["+4799999999"]


# --- placeholders (docs/compatibility.md C10) ---

NAMES = {"810419652": "Firma AS", "16069412345": "Ola Nordmann"}
TEXT = "Hei $recipientName$ ($recipientNumber$)"


def test_placeholders_for_an_organisation_use_its_name_and_number() -> None:
    org = ResolvedRecipient(organization_number="810419652")
    assert rules.resolve_placeholders(TEXT, org, NAMES) == "Hei Firma AS (810419652)"


def test_placeholders_for_a_person_use_the_name_and_leave_the_number_blank() -> None:
    person = ResolvedRecipient(national_identity_number="16069412345")
    assert rules.resolve_placeholders(TEXT, person, NAMES) == "Hei Ola Nordmann ()"


def test_every_occurrence_is_replaced() -> None:
    org = ResolvedRecipient(organization_number="810419652")
    text = "$recipientName$/$recipientName$ $recipientNumber$$recipientNumber$"
    assert rules.resolve_placeholders(text, org, NAMES) == "Firma AS/Firma AS 810419652810419652"


def test_no_identity_leaves_the_template_verbatim() -> None:
    address_only = ResolvedRecipient(emails=["a@example.no"])
    assert rules.resolve_placeholders(TEXT, address_only, NAMES) is None
    external = ResolvedRecipient(external_identity="urn:altinn:person:idporten-email:x@example.no")
    assert rules.resolve_placeholders(TEXT, external, NAMES) is None


def test_no_register_match_leaves_the_template_verbatim() -> None:
    unknown_org = ResolvedRecipient(organization_number="999999999")
    unknown_person = ResolvedRecipient(national_identity_number="01010112345")
    assert rules.resolve_placeholders(TEXT, unknown_org, NAMES) is None
    assert rules.resolve_placeholders(TEXT, unknown_person, NAMES) is None


def test_text_without_placeholders_is_not_customised() -> None:
    org = ResolvedRecipient(organization_number="810419652")
    assert rules.resolve_placeholders("Plain text", org, NAMES) is None
    assert not rules.has_placeholder("Plain text")
    assert not rules.has_placeholder(None)
    assert rules.has_placeholder("x $recipientNumber$")


# --- generation (docs/compatibility.md C10) ---

REQUESTED = oslo(2026, 11, 27, 18, 0)


def _order(
    channel: NotificationChannel = NotificationChannel.EmailAndSms,
    *,
    ignore_reservation: bool | None = None,
    policy: SendingTimePolicy | None = None,
) -> NotificationOrder:
    return NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=REQUESTED,
        requested_send_time=REQUESTED,
        notification_channel=channel,
        ignore_reservation=ignore_reservation,
        sending_time_policy=policy,
        email_template=EmailTemplate(
            from_address="noreply@altinn.no", subject="Til $recipientName$", body="Org $recipientNumber$"
        ),
        sms_template=SmsTemplate(sender_number="Altinn", body="Hei $recipientName$"),
    )


def test_reserved_recipient_gets_one_reserved_row_with_empty_address() -> None:
    reserved = ResolvedRecipient(
        national_identity_number="16069412345",
        emails=["a@example.no", "b@example.no"],
        mobile_numbers=["+4799999999"],
        is_reserved=True,
    )
    order = _order()
    emails = list(rules.email_notifications(order, [reserved], NAMES))
    sms = list(rules.sms_notifications(order, [reserved], NAMES))
    assert [(e.to_address, e.result) for e in emails] == [("", "Failed_RecipientReserved")]
    assert [(s.mobile_number, s.result) for s in sms] == [("", "Failed_RecipientReserved")]
    assert emails[0].recipient_nin == "16069412345"
    assert emails[0].customized_subject is None and emails[0].customized_body is None


def test_reserved_without_addresses_is_reported_as_reserved() -> None:
    reserved = ResolvedRecipient(national_identity_number="16069412345", is_reserved=True)
    order = _order()
    assert [e.result for e in rules.email_notifications(order, [reserved], NAMES)] == [
        "Failed_RecipientReserved"
    ]
    assert [s.result for s in rules.sms_notifications(order, [reserved], NAMES)] == [
        "Failed_RecipientReserved"
    ]


def test_ignore_reservation_sends_to_every_address_of_a_reserved_recipient() -> None:
    reserved = ResolvedRecipient(
        national_identity_number="16069412345",
        emails=["a@example.no", "b@example.no"],
        mobile_numbers=["+4799999999"],
        is_reserved=True,
    )
    order = _order(ignore_reservation=True)
    emails = list(rules.email_notifications(order, [reserved], NAMES))
    sms = list(rules.sms_notifications(order, [reserved], NAMES))
    assert [(e.to_address, e.result) for e in emails] == [("a@example.no", "New"), ("b@example.no", "New")]
    assert [(s.mobile_number, s.result) for s in sms] == [("+4799999999", "New")]


@pytest.mark.parametrize("reserved", [None, False])
def test_no_addresses_gives_one_not_identified_row(reserved: bool | None) -> None:
    nobody = ResolvedRecipient(organization_number="810419652", is_reserved=reserved)
    order = _order()
    emails = list(rules.email_notifications(order, [nobody], NAMES))
    sms = list(rules.sms_notifications(order, [nobody], NAMES))
    assert [(e.to_address, e.result, e.recipient_org_no) for e in emails] == [
        ("", "Failed_RecipientNotIdentified", "810419652")
    ]
    assert [(s.mobile_number, s.result, s.recipient_org_no) for s in sms] == [
        ("", "Failed_RecipientNotIdentified", "810419652")
    ]


def test_one_new_row_per_address_sharing_the_customised_texts() -> None:
    org = ResolvedRecipient(
        organization_number="810419652",
        emails=["post@firma.no", "boss@firma.no"],
        mobile_numbers=["+4799999999", "+4798888888"],
    )
    order = _order(policy=SendingTimePolicy.Daytime)
    emails = list(rules.email_notifications(order, [org], NAMES))
    sms = list(rules.sms_notifications(order, [org], NAMES))
    assert [(e.to_address, e.result) for e in emails] == [("post@firma.no", "New"), ("boss@firma.no", "New")]
    assert {(e.customized_subject, e.customized_body) for e in emails} == {("Til Firma AS", "Org 810419652")}
    assert [(s.mobile_number, s.result, s.customized_body) for s in sms] == [
        ("+4799999999", "New", "Hei Firma AS"),
        ("+4798888888", "New", "Hei Firma AS"),
    ]
    assert {e.recipient_org_no for e in emails} | {s.recipient_org_no for s in sms} == {"810419652"}
    assert {e.recipient_nin for e in emails} | {s.recipient_nin for s in sms} == {None}
    assert len({e.id for e in emails} | {s.id for s in sms}) == 4  # every row has its own id
    # Expiry: email +48 h; a Daytime SMS ordered at 18:00 waits for tomorrow's window, then +48 h.
    assert {e.expiry_time for e in emails} == {REQUESTED + H48}
    assert {s.expiry_time for s in sms} == {window_start_utc(date(2026, 11, 28)) + H48}


def test_rows_for_a_recipient_without_register_match_keep_the_template() -> None:
    person = ResolvedRecipient(national_identity_number="01010112345", emails=["x@example.no"])
    emails = list(rules.email_notifications(_order(), [person], NAMES))
    assert [(e.customized_subject, e.customized_body) for e in emails] == [(None, None)]


def test_sms_expiry_follows_the_order_policy() -> None:
    person = ResolvedRecipient(national_identity_number="16069412345", mobile_numbers=["+4799999999"])
    anytime = list(rules.sms_notifications(_order(policy=SendingTimePolicy.Anytime), [person], NAMES))
    unset = list(rules.sms_notifications(_order(policy=None), [person], NAMES))
    assert anytime[0].expiry_time == REQUESTED + H48
    assert unset[0].expiry_time == REQUESTED + H48


def test_a_missing_template_is_an_error() -> None:
    order = _order()
    no_email = order.model_copy(update={"email_template": None})
    no_sms = order.model_copy(update={"sms_template": None})
    with pytest.raises(ValueError):
        list(rules.email_notifications(no_email, [ONLY_EMAIL], NAMES))
    with pytest.raises(ValueError):
        list(rules.sms_notifications(no_sms, [ONLY_SMS], NAMES))


def test_generate_a_mixed_order() -> None:
    """EmailPreferred over four kinds of recipient: who gets what, and when the order is final at once."""
    order = _order(NotificationChannel.EmailPreferred)
    generated = generate(order, ALL, NAMES)
    assert sorted((e.to_address, e.result) for e in generated.emails) == [
        ("", "Failed_RecipientReserved"),  # NEITHER: reserved, on the preferred channel only
        ("a@example.no", "New"),
        ("b@example.no", "New"),
        ("c@example.no", "New"),
    ]
    assert sorted((s.mobile_number, s.result) for s in generated.sms) == [
        ("+4798888888", "New"),
        ("+4799999999", "New"),
    ]
    assert not generated.all_failed_at_generation
    unreachable = generate(order, [NEITHER, ResolvedRecipient(organization_number="810419652")], NAMES)
    assert [e.result for e in unreachable.emails] == [
        "Failed_RecipientReserved",
        "Failed_RecipientNotIdentified",
    ]
    assert unreachable.sms == []
    assert unreachable.all_failed_at_generation


def test_needs_names_only_when_a_template_has_a_placeholder() -> None:
    assert rules.needs_names(_order())
    plain = _order().model_copy(
        update={
            "email_template": EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
            "sms_template": SmsTemplate(sender_number="Altinn", body="b"),
        }
    )
    assert not rules.needs_names(plain)
    sms_only = plain.model_copy(
        update={"sms_template": SmsTemplate(sender_number="Altinn", body="$recipientName$")}
    )
    assert rules.needs_names(sms_only)
