"""The "Fuzzing" section of docs/benchmarks.md, written by ``make fuzz`` from the run's own counts.

``make fuzz`` runs tests/fuzz with ``HYPOTHESIS_PROFILE=fuzz`` and
``CALLVISOR_FUZZ_REPORT=docs/benchmarks/sections/fuzz.md``; the conftest calls
:func:`write_section` at the end of the session, then ``python -m bench.sections`` splices the
file into docs/benchmarks.md (``make bench`` carries it too: bench/sections.py).  What the
fuzzing found over time is :data:`FINDINGS`, kept here with the code that found it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path

#: What the fuzzing (or issue 11) found, each fixed and pinned by a test named after the input.
FINDINGS = (
    (
        "a signed body nested ~900 levels deep",
        "`json.loads` ran near the recursion limit; a garbage collection started by its allocations ran "
        "finalizers out of stack, and their `RecursionError` went to `sys.unraisablehook`. Bodies deeper "
        "than 900 levels were also accepted as calls when the nesting sat in a field nobody reads",
        "the nesting is measured on the raw text before decoding (`actors/bounded_json.py`); deeper than "
        "32 levels is `400 malformed_json`",
        "tests/fuzz/test_webhook_regressions.py::test_signed_body_nested_900_deep_is_malformed_json, "
        "::test_signed_body_nested_900_deep_leaves_a_garbage_collection_its_stack",
    ),
    (
        "an http tool answering JSON nested 5,000 levels deep (found sharing the bound)",
        "the call actor crashed (`call_actor_crashed`)",
        "the same bound on a tool's answer: deeper than 32 levels, the model gets it as text",
        "tests/lifecycle/test_lifecycle_deep_tool_answer.py::test_an_http_tool_answer_nested_5000_deep_is_given_as_text",
    ),
)

TESTS = {
    "test_unsigned_and_badly_signed_deliveries_get_401_and_reach_nobody": "unsigned or badly signed: 401 with its reason, nothing reaches OpenAI",
    "test_signed_bodies_of_any_shape_get_their_readme_row": "signed bodies of any shape: exactly their README row",
    "test_signed_calls_with_odd_sip_headers_are_decided_and_end_without_leaks": "signed calls with odd SIP headers: decided, live, ended, nothing left",
}


def write_section(
    path: Path,
    *,
    profile: str,
    cases: Mapping[str, int],
    wall_s: Mapping[str, float],
    outcomes: Mapping[str, str],
    answers: Mapping[str, Mapping[str, int]],
    session_s: float,
    machine: str,
) -> None:
    """Write the section for one run (``answers``: per test, how many cases got each answer)."""
    total = sum(cases.values())
    date = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    passed = all(outcomes.get(name) == "passed" for name in cases)
    lines = [
        "## Fuzzing",
        "",
        "<!-- Written by `make fuzz` (tests/fuzz/report.py); make bench carries it as it is. -->",
        "",
        f"`make fuzz` on {date} ({machine}): {total:,} fuzzed webhooks in {session_s:,.0f} s, hypothesis "
        f"profile `{profile}` (random; `make test` runs a derandomized few hundred of the same). "
        + ("Every property held." if passed else "**A property failed**: see the run's output."),
        "Each case is a delivery to the real public app on loopback (hypercorn, one connection per delivery), "
        "with the simulated OpenAI platform recording what reaches call control (tests/fuzz/).",
        "",
        "| property | cases | wall s | result |",
        "|---|---:|---:|---|",
    ]
    for name in sorted(cases):
        lines.append(f"| {TESTS.get(name, name)} | {cases[name]:,} | {wall_s.get(name, 0.0):,.0f} | {outcomes.get(name, '?')} |")
    rows: dict[str, int] = {}
    for labels in answers.values():
        for label, count in labels.items():
            row = label.split(",")[0]
            rows[row] = rows.get(row, 0) + count
    lines += [
        "",
        "What the cases were answered (a call's answer, then how it ended):",
        "",
        "| answer | cases |",
        "|---|---:|",
        *(f"| {row} | {count:,} |" for row, count in sorted(rows.items(), key=lambda item: (-item[1], item[0]))),
        "",
        "Found and fixed, each pinned by a regression test named after the input:",
        "",
        *(f"- **{found}**: {effect}. Fix: {fix}. Test: `{test}`." for found, effect, fix, test in FINDINGS),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
