"""Sections of docs/benchmarks.md measured by other runs than ``make bench`` (``make fuzz``, ...).

Each is a Markdown file ``docs/benchmarks/sections/NAME.md`` that the run measuring it writes
(``make fuzz`` writes ``fuzz.md``).  The page carries each one as it is, between
``<!-- section:NAME -->`` and ``<!-- /section:NAME -->``, before "## Reproducing":
:func:`bench.doc.render` puts them there when ``make bench`` renders the page, and
``python -m bench.sections [DOCS]`` splices the current files into the page as it stands,
rendering nothing else (so a run of ``make fuzz`` needs none of the bench extra).

Standard library only, on purpose: ``make fuzz`` runs it from the dev install.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

FOLDER = Path("benchmarks") / "sections"
PAGE = "benchmarks.md"
#: The heading the sections go before, when the page has no block of theirs yet.
BEFORE = "## Reproducing"


def read(docs: Path) -> list[tuple[str, str]]:
    """``(name, markdown)`` of every section file under ``docs``, by name."""
    folder = docs / FOLDER
    if not folder.is_dir():
        return []
    return [(path.stem, path.read_text().strip()) for path in sorted(folder.glob("*.md"))]


def block(name: str, markdown: str) -> list[str]:
    """The lines that carry one section on the page (a blank line after it)."""
    return [f"<!-- section:{name} -->", markdown, f"<!-- /section:{name} -->", ""]


def splice(page: str, sections: Sequence[tuple[str, str]]) -> str:
    """``page`` with each section's block replaced by the current text (or added before BEFORE)."""
    for name, markdown in sections:
        text = "\n".join(block(name, markdown)) + "\n"
        pattern = re.compile(rf"<!-- section:{re.escape(name)} -->\n.*?<!-- /section:{re.escape(name)} -->\n\n?", re.DOTALL)
        found = pattern.search(page)
        if found:
            page = page[: found.start()] + text + page[found.end() :]
        elif f"\n{BEFORE}\n" in page:
            page = page.replace(f"\n{BEFORE}\n", f"\n{text}{BEFORE}\n", 1)
        else:
            page = page.rstrip("\n") + "\n\n" + text
    return page


def main(argv: Sequence[str] = ()) -> int:
    docs = Path(argv[0]) if argv else Path("docs")
    page = docs / PAGE
    sections = read(docs)
    page.write_text(splice(page.read_text(), sections))
    print(f"{page}: {', '.join(name for name, _ in sections) or 'no sections'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
