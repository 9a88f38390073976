"""How many SMS segments a text costs (recorded per notification in `smsnotifications.smscount`).

Method (3GPP TS 23.038 / 23.040):

- If every character is in the GSM 7-bit default alphabet or its extension table, the text is sent as
  GSM-7. Basic characters cost one septet, extension characters (`^ { } \\ [ ~ ] | €` and form feed) two
  (escape + character). Up to 160 septets is one segment; longer texts are concatenated in segments of
  153 septets (7 septets go to the concatenation header), and an escape pair is never split between two
  segments.
- Otherwise the text is sent as UCS-2 (the gateway's Unicode message type): up to 70 UTF-16 code units is
  one segment, longer texts are segments of 67 units, and a surrogate pair (a character outside the BMP,
  e.g. most emoji) is never split.

An empty text is one (empty) segment.
"""

from __future__ import annotations

from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def encoding_of(text: str) -> Encoding:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _count(units: list[int], single: int, part: int) -> int:
    """Segments for a sequence of indivisible unit sizes (septets or UTF-16 code units)."""
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return segments


def segment_count(text: str) -> int:
    """Segments the text costs (see the module docstring)."""
    if is_gsm7(text):
        return _count([2 if c in GSM7_EXTENSION else 1 for c in text], 160, 153)
    return _count([2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67)
