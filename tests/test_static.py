"""The page's scripts find their elements by id or `data-role`, never by the tests' `data-testid`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "static" / "js").rglob("*.js"))  # the lab's too
COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
# The one use of a test id the code may make: giving an element it creates its hook for the tests.
SETS_TEST_ID = re.compile(r"dataset: \{[^}]*\btestid: `[^`]+`")


def test_there_are_scripts_to_check():
    assert {path.name for path in SCRIPTS} >= {"main.js", "ui.js", "pad.js", "network.js", "network-view.js"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_scripts_never_look_elements_up_by_test_id(path: Path):
    code = SETS_TEST_ID.sub("", COMMENTS.sub("", path.read_text()))
    assert not re.search(r"testid", code, re.IGNORECASE), f"{path.name} reads a data-testid"
