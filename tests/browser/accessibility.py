"""Accessibility checks with axe-core (as shipped by axe-playwright-python), run in the page itself."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

# WCAG 2.1 A and AA, and axe's best practices: every rule with one of these tags runs, none is turned off.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
COLOUR_SCHEMES = ("light", "dark")  # the page has both: each has its own colours to check

_axe = Axe()


def axe_violations(page: Page) -> str:
    """axe-core's report of every violation of AXE_TAGS on the page as it is now, in each colour scheme;
    empty when there is none."""
    reports = []
    for scheme in COLOUR_SCHEMES:
        page.emulate_media(color_scheme=scheme)
        results = _axe.run(
            page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
        )
        # A page axe could not read passes nothing either: that must not look like a clean page.
        assert results.response["passes"], "axe-core passed no rule at all: it did not check the page"
        if results.violations_count:
            reports.append(f"In the {scheme} colour scheme: {results.generate_report()}")
    page.emulate_media(color_scheme=None)
    return "\n".join(reports)
