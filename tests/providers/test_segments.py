"""SMS segment counting (`smsnotifications.smscount`): GSM-7 160/153 septets, UCS-2 70/67 code units."""

from __future__ import annotations

import pytest

from altinn_notifications.providers.sms.segments import GSM7_BASIC, encoding_of, segment_count


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("Æøå" * 53 + "a", 1),  # Norwegian letters are GSM-7: 160 septets
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 10, 2),  # 164 septets: two segments
        ("a" * 152 + "€" + "a" * 152, 3),  # the escape pair is not split: 152 | € + 151 | 1
        ("ś" * 70, 1),
        ("ś" * 71, 2),
        ("ś" * 134, 2),
        ("ś" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 code units
        ("😀" * 36, 2),
        ("a" * 66 + "😀" + "a" * 5, 2),  # 73 units; the surrogate pair is not split: 66 | 2 + 5
    ],
)
def test_segment_count(text: str, segments: int) -> None:
    assert segment_count(text) == segments


def test_encoding() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions less the escape
    assert encoding_of("Hei på deg, Ærlig talt! {x}") == "GSM-7"
    assert encoding_of("Cześć") == "UCS-2"
