"""Explanations as plain values: the `digits` parameter and the stimuli of a model without an index."""

from __future__ import annotations

import pytest

from app.core.errors import DigitPadError
from app.core.explanations import parse_digits, unit_stimuli


@pytest.mark.parametrize(
    ("text", "digits"), [(None, None), ("", None), (" ", None), ("7", [7]), ("3, 5", [3, 5]), ("5,3,5", [5, 3])]
)
def test_digits_are_parsed_in_order(text, digits):
    assert parse_digits(text) == digits


@pytest.mark.parametrize("text", ["10", "x", "1,", "-2", "٣"])
def test_bad_digits_are_invalid_requests(text):
    with pytest.raises(DigitPadError) as caught:
        parse_digits(text)
    assert caught.value.code == "invalid_request"


def test_a_model_the_registry_knows_no_index_for_says_so():
    """A model added at run time (from the training lab) has no entry saying why: it still gets a sentence."""
    with pytest.raises(DigitPadError) as caught:
        unit_stimuli("lab-3", None, None, "output", 0)
    assert caught.value.code == "no_stimulus_index"
    assert "'lab-3'" in caught.value.detail and "POST /api/explain" in caught.value.detail
