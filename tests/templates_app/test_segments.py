"""SMS segment counting against the GSM 03.38 / UCS-2 rules carriers bill by."""

import pytest

from templates_app.segments import sms_segments, sms_shape


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),  # the single-segment limit
        ("a" * 161, "GSM-7", 161, 2),  # one more: concatenated at 153 per segment
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "[" + "b", "GSM-7", 155, 1),  # 155 septets still fit one 160-septet segment
        ("a" * 152 + "[" + "a" * 152, "GSM-7", 306, 3),  # `[` would straddle 153: it moves whole to segment 2
        ("a" * 152 + "[" * 77, "GSM-7", 306, 3),  # same septets as 306 a's, but no escape pair is split
        ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM-7 basic set
        ("ê", "UCS-2", 1, 1),  # ê is not: the whole message becomes UCS-2
        ("a" * 70, "GSM-7", 70, 1),
        ("a" * 69 + "😀", "UCS-2", 71, 2),  # one emoji: 2 UTF-16 units, and now 2 segments instead of 1
        ("ж" * 70, "UCS-2", 70, 1),
        ("ж" * 71, "UCS-2", 71, 2),
        ("ж" * 134, "UCS-2", 134, 2),
        ("ж" * 135, "UCS-2", 135, 3),
        ("ж" * 66 + "😀", "UCS-2", 68, 1),  # 68 units fit one 70-unit segment
        ("ж" * 66 + "😀" + "ж" * 66, "UCS-2", 134, 3),  # the pair would straddle 67: never split
    ],
)
def test_shape(text, encoding, units, segments):
    shape = sms_shape(text)
    assert (shape.encoding, shape.units, shape.segments) == (encoding, units, segments)


def test_an_empty_message_is_still_billed_as_one_segment():
    assert sms_segments("") == 1


def test_one_emoji_doubles_the_cost_of_a_message_that_fitted_in_one_segment():
    text = "Your goal is reached, congratulations! " * 3
    assert len(text) <= 160
    assert sms_segments(text) == 1
    assert sms_segments(text + "🎉") == 2
