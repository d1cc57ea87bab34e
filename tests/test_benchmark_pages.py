"""docs/benchmarks.md is rewritten by two suites' full runs: each must keep
what the other wrote and the hand-written notes after the context section."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import context_suite as suite  # noqa: E402

NOTES = f"{suite.NOTES_START}\n## Notes\n\nA rerun, by hand.\n{suite.NOTES_END}"


def _page(context: str, notes: str = NOTES) -> str:
    section = f"{suite.CONTEXT_START}\n{context}\n{suite.CONTEXT_END}"
    return f"# Quality benchmark\n\nDefault suite.\n\n{section}\n\n{notes}\n"


def test_a_context_run_replaces_its_section_and_keeps_the_notes():
    new = f"{suite.CONTEXT_START}\nnew tables\n{suite.CONTEXT_END}"
    page = suite.splice(_page("old tables"), new)
    assert "new tables" in page and "old tables" not in page
    assert NOTES in page and "Default suite." in page


def test_a_default_run_keeps_the_context_section_with_its_notes():
    kept = suite.section_of(_page("tables"))
    assert kept.startswith(suite.CONTEXT_START) and kept.endswith(suite.NOTES_END)
    assert "tables" in kept and "A rerun, by hand." in kept


def test_notes_elsewhere_on_the_page_are_not_taken_for_the_sections():
    page = _page("tables", notes=f"Some text.\n\n{NOTES}")
    assert suite.section_of(page).endswith(suite.CONTEXT_END)


def test_the_page_has_its_notes_right_after_the_context_section():
    page = (Path(__file__).parents[1] / "docs" / "benchmarks.md").read_text()
    assert suite.section_of(page).endswith(suite.NOTES_END)
