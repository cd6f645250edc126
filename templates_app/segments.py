"""SMS encoding and segment counting (GSM 03.38 / UCS-2), as carriers bill it.

A message that fits the GSM-7 alphabet is 160 septets in one segment, 153 per segment once concatenated
(the user data header takes 7). Extension characters (`€`, `[`, `{`, ...) take two septets (escape +
char) and are never split across segments. Anything outside GSM-7 switches the whole message to UCS-2:
70 UTF-16 code units in one segment, 67 when concatenated, and a surrogate pair (most emoji) is never
split across segments.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SmsShape:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _pack(sizes: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given unit sizes, none split across a boundary."""
    total = sum(sizes)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def sms_shape(text: str) -> SmsShape:
    if is_gsm7(text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SmsShape("GSM-7", sum(sizes), _pack(sizes, GSM7_SINGLE, GSM7_MULTI))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SmsShape("UCS-2", sum(sizes), _pack(sizes, UCS2_SINGLE, UCS2_MULTI))


def sms_segments(text: str) -> int:
    """Segments billed for `text`; an empty message still costs one."""
    return max(1, sms_shape(text).segments)
