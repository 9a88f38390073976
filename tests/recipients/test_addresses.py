"""Address rules (docs/compatibility.md C5): examples plus property-based tests of the email and phone grammars.

Hypothesis runs derandomized with a moderate number of examples, so CI sees the same cases every run.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from altinn_notifications.recipients.addresses import (
    is_national_identity_number,
    is_organization_number,
    is_valid_email,
    is_valid_mobile_number,
    normalize_mobile_number,
)

PROPERTIES = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- the email grammar of docs/compatibility.md C5 (without the `;` quirk) ---

NORWEGIAN = "æøåÆØÅ"
ATOM_CHARS = string.ascii_letters + string.digits + NORWEGIAN + "!#$%&'*+-=?^_`{|}~"
LABEL_EDGE = string.ascii_letters + string.digits + NORWEGIAN
LABEL_INNER = LABEL_EDGE + "-"

atoms = st.text(alphabet=ATOM_CHARS, min_size=1, max_size=12)
local_parts = st.lists(atoms, min_size=1, max_size=4).map(".".join)


@st.composite
def labels(draw: st.DrawFn, min_size: int = 1, max_size: int = 63) -> str:
    """A domain label: letters/digits (incl. æøå), inner hyphens allowed, `min_size`..`max_size` chars."""
    size = draw(st.integers(min_size, max_size))
    if size == 1:
        return draw(st.sampled_from(LABEL_EDGE))
    first = draw(st.sampled_from(LABEL_EDGE))
    last = draw(st.sampled_from(LABEL_EDGE))
    middle = draw(st.text(alphabet=LABEL_INNER, min_size=size - 2, max_size=size - 2))
    return first + middle + last


tlds = st.text(alphabet=string.ascii_letters, min_size=2, max_size=14)
octets = st.integers(0, 999).map(str)
ipv4_domains = st.tuples(octets, octets, octets, octets).map(".".join)
named_domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(labels(), min_size=1, max_size=9),
    tlds,
)
domains = st.one_of(named_domains, ipv4_domains)
valid_emails = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


@PROPERTIES
@given(valid_emails)
def test_generated_valid_emails_are_accepted(email: str) -> None:
    assert is_valid_email(email)


@PROPERTIES
@given(valid_emails, st.sampled_from([" ", "  ", "\t", "\n", " \t "]))
def test_surrounding_whitespace_is_trimmed(email: str, pad: str) -> None:
    assert is_valid_email(pad + email + pad)


@PROPERTIES
@given(valid_emails, st.data())
def test_semicolon_anywhere_is_rejected(email: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(email)))
    assert not is_valid_email(email[:at] + ";" + email[at:])


@PROPERTIES
@given(local_parts, domains, local_parts, domains)
def test_address_lists_are_rejected(local1: str, domain1: str, local2: str, domain2: str) -> None:
    for separator in (";", ",", " ", "; "):
        assert not is_valid_email(f"{local1}@{domain1}{separator}{local2}@{domain2}")


@PROPERTIES
@given(valid_emails, st.data(), st.sampled_from([" ", "\t", "\u00a0"]))
def test_whitespace_inside_is_rejected(email: str, data: st.DataObject, space: str) -> None:
    at = data.draw(st.integers(1, len(email) - 1))
    assert not is_valid_email(email[:at] + space + email[at:])


@PROPERTIES
@given(valid_emails, st.data())
def test_second_at_sign_is_rejected(email: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(email)))
    assert not is_valid_email(email[:at] + "@" + email[at:])


@PROPERTIES
@given(local_parts, domains)
def test_leading_and_trailing_dots_are_rejected(local: str, domain: str) -> None:
    assert not is_valid_email(f".{local}@{domain}")
    assert not is_valid_email(f"{local}.@{domain}")
    assert not is_valid_email(f"{local}@.{domain}")
    assert not is_valid_email(f"{local}@{domain}.")
    assert not is_valid_email(f"{local}..x@{domain}")


@PROPERTIES
@given(
    local_parts, labels(min_size=64, max_size=100), st.lists(labels(max_size=10), max_size=3), tlds, st.data()
)
def test_labels_over_63_chars_are_rejected(
    local: str, long_label: str, others: list[str], tld: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(others)))
    parts = [*others[:position], long_label, *others[position:]]
    assert not is_valid_email(f"{local}@{'.'.join(parts)}.{tld}")


@PROPERTIES
@given(local_parts, st.lists(labels(max_size=10), min_size=1, max_size=3), st.data())
def test_label_lengths_at_the_boundary(local: str, others: list[str], data: st.DataObject) -> None:
    label63 = data.draw(labels(min_size=63, max_size=63))
    label64 = data.draw(labels(min_size=64, max_size=64))
    assert is_valid_email(f"{local}@{label63}.{'.'.join(others)}.no")
    assert not is_valid_email(f"{local}@{label64}.{'.'.join(others)}.no")


@PROPERTIES
@given(local_parts, st.lists(labels(max_size=10), min_size=1, max_size=3))
def test_hyphen_at_label_edges_is_rejected(local: str, parts: list[str]) -> None:
    domain = ".".join(parts)
    assert not is_valid_email(f"{local}@-{domain}.no")
    assert not is_valid_email(f"{local}@{domain}-.no")


@PROPERTIES
@given(
    local_parts,
    st.lists(labels(max_size=10), min_size=1, max_size=9),
    st.text(string.ascii_letters, min_size=15),
)
def test_tld_over_14_letters_is_rejected(local: str, parts: list[str], tld: str) -> None:
    assert not is_valid_email(f"{local}@{'.'.join(parts)}.{tld}")


@PROPERTIES
@given(local_parts, st.lists(labels(max_size=10), min_size=1, max_size=9), st.data())
def test_tld_with_digits_is_rejected(local: str, parts: list[str], data: st.DataObject) -> None:
    letters = data.draw(st.text(string.ascii_letters, min_size=1, max_size=7))
    digits = data.draw(st.text(string.digits, min_size=1, max_size=7))
    tld = "".join(data.draw(st.permutations(letters + digits)))
    assert not is_valid_email(f"{local}@{'.'.join(parts)}.{tld}")


@PROPERTIES
@given(local_parts, tlds, st.data())
def test_tld_must_be_ascii_letters_and_2_to_14_long(local: str, tld: str, data: st.DataObject) -> None:
    assert is_valid_email(f"{local}@example.{tld}")
    assert not is_valid_email(f"{local}@example.{tld[0]}")
    non_ascii = data.draw(st.sampled_from(NORWEGIAN + "éü"))
    assert not is_valid_email(f"{local}@example.{tld}{non_ascii}")


@PROPERTIES
@given(local_parts, st.lists(labels(max_size=8), min_size=10, max_size=14), tlds)
def test_more_than_10_labels_are_rejected(local: str, parts: list[str], tld: str) -> None:
    assert not is_valid_email(f"{local}@{'.'.join(parts)}.{tld}")


@PROPERTIES
@given(local_parts, st.lists(labels(max_size=8), min_size=9, max_size=9), tlds)
def test_exactly_10_labels_are_accepted(local: str, parts: list[str], tld: str) -> None:
    assert is_valid_email(f"{local}@{'.'.join(parts)}.{tld}")


@PROPERTIES
@given(st.text(max_size=40).filter(lambda s: "@" not in s))
def test_text_without_at_sign_is_rejected(text: str) -> None:
    assert not is_valid_email(text)


@pytest.mark.parametrize(
    "email",
    [
        "recipient@domain.com",
        "first.last@sub.domain.no",
        "ola.nordmann@blåbær.no",
        "æøå@domain.no",
        "a+b-c=d?e^f_g`h{i|j}k~l!m#n$o%p&q'r*s@x.no",
        "user@10.0.0.1",
        "user@999.999.999.999",  # the reference only checks the shape of an IPv4 literal
        "UPPER@CASE.NO",
        "x@a.b.c.d.e.f.g.h.i.no",  # 9 labels + TLD
    ],
)
def test_email_examples_valid(email: str) -> None:
    assert is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        None,
        "",
        "   ",
        "plain",
        "@domain.no",
        "user@",
        "user@domain",
        "user@localhost",
        "user@[10.0.0.1]",
        "user@1.2.3",
        '"quoted"@domain.no',  # the reference's quoted local part is effectively broken
        "a@b.no;c@d.no",
        "a;b@domain.no",
        "user@domain.no,",
        "x@a.b.c.d.e.f.g.h.i.j.no",  # 10 labels + TLD
        "user@domain.abcdefghijklmno",  # 15-letter TLD
        "user@domain.c0m",
        "a/b@domain.no",  # `/` is not an atom character
        "a b@domain.no",
    ],
)
def test_email_examples_invalid(email: str | None) -> None:
    assert not is_valid_email(email)


# --- mobile numbers (docs/compatibility.md C5) ---

# Norwegian numbers libphonenumber's metadata treats as valid mobiles: 4[01678]xxxxxx and 9xxxxxxx.
# (+4742/43/44/49 and part of 45 are not allocated ranges and are invalid in the reference as well.)
norwegian_national = st.one_of(
    st.builds(lambda d: "9" + d, st.text(string.digits, min_size=7, max_size=7)),
    st.builds(
        lambda p, d: "4" + p + d, st.sampled_from("01678"), st.text(string.digits, min_size=6, max_size=6)
    ),
)
valid_numbers = norwegian_national.map(lambda n: "+47" + n)


@PROPERTIES
@given(valid_numbers)
def test_plus_47_numbers_are_valid(number: str) -> None:
    assert is_valid_mobile_number(number)


@PROPERTIES
@given(norwegian_national)
def test_00_prefix_is_accepted(national: str) -> None:
    assert is_valid_mobile_number("0047" + national)


@PROPERTIES
@given(norwegian_national)
def test_double_plus_is_rejected(national: str) -> None:
    assert not is_valid_mobile_number("++47" + national)
    assert not is_valid_mobile_number("+0047" + national)


@PROPERTIES
@given(norwegian_national)
def test_missing_prefix_is_rejected(national: str) -> None:
    assert not is_valid_mobile_number(national)
    assert not is_valid_mobile_number("47" + national)
    assert not is_valid_mobile_number("0" + national)


@PROPERTIES
@given(st.text(alphabet=st.characters(exclude_categories=["Nd"]), max_size=20))
def test_strings_without_digits_are_rejected(text: str) -> None:
    assert not is_valid_mobile_number(text)
    assert not is_valid_mobile_number("+" + text)
    assert not is_valid_mobile_number("00" + text)


# Symbols that are not phone punctuation for libphonenumber (which accepts spaces, `-`, `.`, `/`, `~`,
# brackets): between the digits of a number they make it invalid.
SYMBOLS = ";,_!?=:&%$@'\"\\{}<>|^#"


@PROPERTIES
@given(valid_numbers, st.sampled_from(SYMBOLS), st.data())
def test_symbols_inside_the_number_are_rejected(number: str, symbol: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(2, len(number) - 1))  # between two digits
    assert not is_valid_mobile_number(number[:at] + symbol + number[at:])


@PROPERTIES
@given(valid_numbers, st.sampled_from(string.ascii_letters + SYMBOLS + "*[]"), st.data())
def test_non_digits_are_rejected(number: str, junk: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(1, len(number)))
    assert not is_valid_mobile_number(number[:at] + junk + number[at:])


@pytest.mark.parametrize(
    "number",
    [
        "+4799999999",
        "004799999999",
        "+4741234567",
        "+4721234567",
        "+46701234567",
        "+14155552671",
        "+4540123456",
    ],
)
def test_mobile_examples_valid(number: str) -> None:
    assert is_valid_mobile_number(number)


@pytest.mark.parametrize(
    "number",
    [
        None,
        "",
        "+",
        "00",
        "99999999",
        "4799999999",
        "++4799999999",
        "+47invalidChar",
        "+47999",
        "+4742000000",
    ],
)
def test_mobile_examples_invalid(number: str | None) -> None:
    assert not is_valid_mobile_number(number)


# --- normalisation of looked-up numbers (docs/compatibility.md C5) ---


@PROPERTIES
@given(
    st.one_of(st.text(max_size=20), valid_numbers, norwegian_national, norwegian_national.map("0047".__add__))
)
def test_normalize_is_idempotent(value: str) -> None:
    once = normalize_mobile_number(value)
    if once is not None:
        assert normalize_mobile_number(once) == once
        assert is_valid_mobile_number(once)


@PROPERTIES
@given(norwegian_national)
def test_normalize_adds_47_to_8_digit_4x_9x_numbers(national: str) -> None:
    assert normalize_mobile_number(national) == "+47" + national
    assert normalize_mobile_number("0047" + national) == "+47" + national
    assert normalize_mobile_number("+47" + national) == "+47" + national


@PROPERTIES
@given(st.sampled_from("49"), st.text(string.digits, min_size=7, max_size=7))
def test_normalize_8_digit_numbers_only_when_valid(first: str, rest: str) -> None:
    national = first + rest
    expected = "+47" + national if is_valid_mobile_number("+47" + national) else None
    assert normalize_mobile_number(national) == expected


@PROPERTIES
@given(st.sampled_from("01235678"), st.text(string.digits, min_size=7, max_size=7))
def test_normalize_leaves_other_8_digit_numbers_invalid(first: str, rest: str) -> None:
    assert normalize_mobile_number(first + rest) is None


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("99999999", "+4799999999"),
        ("41234567", "+4741234567"),
        ("004799999999", "+4799999999"),
        ("+4799999999", "+4799999999"),
        (" 99999999 ", "+4799999999"),
        ("+47 999 99 999", "+4799999999"),
        ("0046701234567", "+46701234567"),
        ("", None),
        (None, None),
        ("12345678", None),
        ("9999999", None),
        ("not a number", None),
    ],
)
def test_normalize_examples(raw: str | None, normalized: str | None) -> None:
    assert normalize_mobile_number(raw) == normalized


# --- identity numbers (docs/compatibility.md C5) ---


@PROPERTIES
@given(st.text(string.digits, min_size=11, max_size=11))
def test_any_11_digits_is_a_national_identity_number(value: str) -> None:
    assert is_national_identity_number(value)
    assert not is_organization_number(value)


@PROPERTIES
@given(st.text(string.digits, min_size=9, max_size=9))
def test_any_9_digits_is_an_organization_number(value: str) -> None:
    assert is_organization_number(value)
    assert not is_national_identity_number(value)


@PROPERTIES
@given(st.text(string.digits, max_size=15).filter(lambda s: len(s) not in (9, 11)))
def test_other_lengths_are_neither(value: str) -> None:
    assert not is_national_identity_number(value)
    assert not is_organization_number(value)


@PROPERTIES
@given(
    st.text(string.digits, min_size=10, max_size=10),
    st.characters(exclude_characters=string.digits),
    st.data(),
)
def test_non_ascii_digit_makes_nin_invalid(digits: str, other: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, 10))
    assert not is_national_identity_number(digits[:at] + other + digits[at:])


@pytest.mark.parametrize("value", [None, "", "1606941234a", "١٦٠٦٩٤١٢٣٤٥", " 16069412345", "16069412345 "])
def test_nin_examples_invalid(value: str | None) -> None:
    assert not is_national_identity_number(value)


@pytest.mark.parametrize("value", [None, "", "81041965a", "٨١٠٤١٩٦٥٢", " 810419652"])
def test_org_examples_invalid(value: str | None) -> None:
    assert not is_organization_number(value)
