"""The fuzz figures reach docs/benchmarks.md and stay there: make fuzz writes them, make bench carries them."""

from __future__ import annotations

from pathlib import Path

from bench import sections
from tests.fuzz.report import write_section

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_benchmarks_page_carries_every_section_file_as_it_is() -> None:
    """docs/benchmarks.md holds docs/benchmarks/sections/*.md verbatim (run `python -m bench.sections docs`)."""
    page = (DOCS / sections.PAGE).read_text()
    found = sections.read(DOCS)
    # make bench (bench.console, bench.livecost), make fuzz
    assert [name for name, _ in found] == ["console", "fuzz", "live-cost"]
    assert sections.splice(page, found) == page


def test_a_section_goes_before_reproducing_once_and_is_replaced_after() -> None:
    """A new section lands before "## Reproducing"; splicing again replaces it, never duplicates it."""
    page = "# Benchmarks\n\nfigures\n\n## Reproducing\n\nhow\n"
    first = sections.splice(page, [("fuzz", "## Fuzzing\n\n10 cases")])
    assert first == (
        "# Benchmarks\n\nfigures\n\n<!-- section:fuzz -->\n## Fuzzing\n\n10 cases\n<!-- /section:fuzz -->\n\n## Reproducing\n\nhow\n"
    )
    again = sections.splice(first, [("fuzz", "## Fuzzing\n\n12 cases")])
    assert again == first.replace("10 cases", "12 cases")
    assert sections.splice(again, [("fuzz", "## Fuzzing\n\n12 cases")]) == again


def test_the_fuzz_section_states_cases_per_property_and_the_total(tmp_path: Path) -> None:
    """What make fuzz writes: the total, each property's cases and wall time, the answers, the findings."""
    path = tmp_path / "fuzz.md"
    write_section(
        path,
        profile="fuzz",
        cases={"test_signed_bodies_of_any_shape_get_their_readme_row": 7_000, "test_other": 3_500},
        wall_s={"test_signed_bodies_of_any_shape_get_their_readme_row": 400.0},
        outcomes={"test_signed_bodies_of_any_shape_get_their_readme_row": "passed", "test_other": "passed"},
        answers={"test_other": {"200 accepted acme, ended by abort": 2, "400 malformed_json": 5}},
        session_s=650.0,
        machine="test machine, 2 cores",
    )
    text = path.read_text()
    assert text.startswith("## Fuzzing\n")
    assert "10,500 fuzzed webhooks in 650 s" in text
    assert "| signed bodies of any shape: exactly their README row | 7,000 | 400 | passed |" in text
    assert "| 400 malformed_json | 5 |" in text
    assert "| 200 accepted acme | 2 |" in text
    assert "Every property held." in text
    assert "nested ~900 levels deep" in text
