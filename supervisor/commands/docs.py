"""``docs/troubleshooting.md``, rendered from the event registry and the exception tree.

The page is never edited by hand: change :data:`actors.log.EVENTS` (or an error class) and
run ``make docs``.  ``tests/test_docs.py`` fails while the file and the rendering differ.  The
output is deterministic (no timestamps, registry order), so a diff shows exactly what changed.

``python -m supervisor.commands.docs`` prints the page.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from types import ModuleType

import actors.errors
import config.errors
import supervisor.errors
from actors.decision import SIP_STATUS_BY_REASON
from actors.log import EVENTS, LOGGER_NAME, RECORD_ATTR, Event, JsonFormatter, render_error
from config.errors import ApplicationError, TenantNotConfiguredError

from ..logs import QUIET_LOGGERS

CATALOGUE_MARK = "★"

#: Reason phrases of the SIP statuses a rejection may carry (RFC 3261 section 21).
SIP_PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
}

#: The errors modules whose trees the page draws, in its order: one per package that has errors.
#: A class defined elsewhere (a test's throwaway subclass) stays out of the page.
_ERROR_MODULES: tuple[ModuleType, ...] = (config.errors, actors.errors, supervisor.errors)


def render_troubleshooting(sip_status: Mapping[str, int] | None = None) -> str:
    """The Markdown of ``docs/troubleshooting.md``.

    ``sip_status`` maps a rejection reason to the SIP status sent with it
    (``actors.decision.SIP_STATUS_BY_REASON``, see :func:`load_sip_status`); without it the page
    has no SIP section.
    """
    parts = [
        _intro(),
        _reading_logs(),
        _quick_reference(),
    ]
    if sip_status is not None:
        parts.append(_sip_section(sip_status))
    parts.extend(_category_section(category, events) for category, events in _by_category())
    parts.append(_exception_tree())
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def load_sip_status() -> Mapping[str, int]:
    """The SIP status sent with each rejection reason (``actors.decision.SIP_STATUS_BY_REASON``)."""
    return SIP_STATUS_BY_REASON


# -- sections -----------------------------------------------------------------------------


def _intro() -> str:
    return f"""
# Troubleshooting

<!-- Generated from actors/log/_events.py by `make docs`; edit the registry, not this page. -->

Every problem callvisor notices is reported as a log event with a fixed code.  This page lists
each code: how severe it is, what causes it, what the caller and OpenAI get in return, and what
to check.  Codes marked {CATALOGUE_MARK} come from the original error catalogue; the others
were added with callvisor.
"""


def _reading_logs() -> str:
    keys = ", ".join(
        f"`{key}`" for key in ("ts", "level", "logger", "msg", "event", "tenant_id", "call_id")
    )
    quiet = ", ".join(f"`{name}`" for name in QUIET_LOGGERS)
    return f"""
## Reading the logs

callvisor writes one JSON object per line to stderr.  The keys always come in this order:

{keys}, then the event's own fields, then `error` when there is one.

`ts` is UTC with milliseconds.  `tenant_id` and `call_id` are filled in for everything that
happens inside a call, including lines from libraries; a library line has `"event":null`, and
`exc_type` and `exc` (the traceback) when it reports an exception.  An `error` of ours carries
`error_type`, `tenant_id`, a short `reason` code and a `context` object.  For example:

```json
{_example_line()}
```

The JSON is compact (no spaces after `:` or `,`), so plain `grep` works:

```sh
grep '"level":"ERROR"' callvisor.log                   # every error
grep '"event":"call_accept_failed"' callvisor.log      # one event code
grep '"tenant_id":"acme-corp"' callvisor.log           # one tenant
grep '"call_id":"rtc_abc123"' callvisor.log \\
  | jq -r '[.ts, .level, .event, .msg] | @tsv'          # one call, as a timeline
jq -c 'select(.tenant_id == "acme-corp" and .level == "ERROR")' callvisor.log
jq -r '.event // "(library)"' callvisor.log | sort | uniq -c | sort -rn   # counts per code
```

`LOG_LEVEL` (`DEBUG`, `INFO`, `WARNING`, `ERROR`) sets the level of callvisor's own lines.
These library loggers stay at `WARNING` whatever it says:

{quiet}

Secrets are never logged; should one slip into a line anyway, it is replaced by `[redacted]`.
"""


def _example_line() -> str:
    error = TenantNotConfiguredError(
        "tenant acme-corp has no state document",
        reason="state_doc_missing",
        tenant_id="acme-corp",
    )
    record = logging.LogRecord(
        LOGGER_NAME, logging.ERROR, __file__, 0, "tenant has no state document", None, None
    )
    record.created = 1772461845.125  # 2026-03-02T14:30:45.125Z
    setattr(
        record,
        RECORD_ATTR,
        {
            "event": error.event,
            "tenant_id": "acme-corp",
            "call_id": "rtc_abc123",
            "error": render_error(error),
        },
    )
    return JsonFormatter().format(record)


def _quick_reference() -> str:
    rows = [
        _row(
            f"[`{event.code}`](#{event.code})" + (f" {CATALOGUE_MARK}" if event.in_guide else ""),
            event.severity,
            _summary(event.cause),
            event.response,
        )
        for event in EVENTS.values()
    ]
    return "\n".join(
        [
            "## Quick reference",
            "",
            _row("Event", "Severity", "Cause", "Response"),
            _row("---", "---", "---", "---"),
            *rows,
        ]
    )


def _sip_section(sip_status: Mapping[str, int]) -> str:
    rows = []
    for reason in sorted(sip_status):
        status = sip_status[reason]
        name = f"[`{reason}`](#{reason})" if reason in EVENTS else f"`{reason}`"
        rows.append(_row(name, f"{status} {SIP_PHRASES.get(status, '')}".strip()))
    return "\n".join(
        [
            "## Rejection SIP status by reason",
            "",
            "A rejected call is declined towards the caller's carrier with this SIP status.",
            "",
            _row("Reason", "SIP status"),
            _row("---", "---"),
            *rows,
        ]
    )


def _by_category() -> list[tuple[str, list[Event]]]:
    """Categories in the order they first appear in the registry."""
    groups: dict[str, list[Event]] = {}
    for event in EVENTS.values():
        groups.setdefault(event.category, []).append(event)
    return list(groups.items())


def _category_section(category: str, events: list[Event]) -> str:
    raised_by = _classes_by_event()
    lines = [f"## {category}"]
    for event in events:
        facts = [f"**Severity:** {event.severity}"]
        if event.in_guide:
            facts.append(f"{CATALOGUE_MARK} in the original catalogue")
        if event.code in raised_by:
            names = ", ".join(f"`{cls.__name__}`" for cls in raised_by[event.code])
            facts.append(f"**Raised as:** {names}")
        lines += [
            "",
            f"### `{event.code}`",
            "",
            " · ".join(facts),
            "",
            f"**Cause:** {_sentence(event.cause)}",
            "",
            f"**Response:** {_sentence(event.response)}",
        ]
        if event.fixes:
            lines += ["", "What to check:", "", _row("Symptom", "Check"), _row("---", "---")]
            lines += [_row(symptom, check) for symptom, check in event.fixes]
    return "\n".join(lines)


def _exception_tree() -> str:
    lines = [
        "## Exception tree",
        "",
        "Every error class renders itself with `to_log_dict()` into the `error` field of the "
        "line logged under its event.",
        "",
    ]
    for depth, cls in _walk(ApplicationError, 0):
        event = cls.event
        event_text = f"[`{event}`](#{event})" if event in EVENTS else f"`{event}`"
        doc = (cls.__doc__ or "").strip().splitlines()
        summary = f": {doc[0]}" if doc else ""
        lines.append(
            f"{'  ' * depth}- `{cls.__name__}` (`{cls.__module__}`), event {event_text}{summary}"
        )
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------


def _walk(cls: type[ApplicationError], depth: int) -> Iterator[tuple[int, type[ApplicationError]]]:
    yield depth, cls
    # Sorted, not in creation order: that depends on which module happened to be imported first.
    ours = [sub for sub in cls.__subclasses__() if sub.__module__ in _MODULE_ORDER]
    for sub in sorted(ours, key=_tree_order):
        yield from _walk(sub, depth + 1)


_MODULE_ORDER = tuple(module.__name__ for module in _ERROR_MODULES)


def _tree_order(cls: type[ApplicationError]) -> tuple[int, str]:
    module = cls.__module__
    rank = _MODULE_ORDER.index(module) if module in _MODULE_ORDER else len(_MODULE_ORDER)
    return rank, cls.__name__


def _classes_by_event() -> dict[str, list[type[ApplicationError]]]:
    found: dict[str, list[type[ApplicationError]]] = {}
    for _, cls in _walk(ApplicationError, 0):
        found.setdefault(cls.event, []).append(cls)
    return found


def _summary(text: str) -> str:
    """A cause without its parenthesised reason and field lists, for the quick reference."""
    kept: list[str] = []
    group: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        if depth:
            group.append(char)
        else:
            kept.append(char)
        if char == ")" and depth:
            depth -= 1
            if not depth:
                inner = "".join(group)[1:-1]
                if not _is_detail(inner):
                    kept.extend(group)
                group = []
    kept.extend(group)  # an unbalanced "(" keeps the rest as it is
    return " ".join("".join(kept).split()).replace(" ,", ",").replace(" ;", ";")


def _is_detail(inner: str) -> bool:
    return ":" in inner or inner.startswith(("reason", "error_type", "fields"))


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    """Make text safe inside a table cell: no pipes or newlines, no stray emphasis outside code."""
    pieces = text.replace("\n", " ").split("`")
    for i in range(0, len(pieces), 2):  # the even pieces are outside backticks
        pieces[i] = pieces[i].replace("*", "\\*")
    return "`".join(pieces).replace("|", "\\|")


README_BEGIN = "<!-- settings:begin -->"
README_END = "<!-- settings:end -->"


def update_readme(text: str) -> str:
    """``text`` (the README) with its settings block replaced by the generated table."""
    from config.settings import render_settings_table

    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{render_settings_table().strip()}\n{README_END}{tail}"


def main(argv: list[str] | None = None) -> None:
    """Print the troubleshooting page; with ``--readme PATH`` rewrite that README's settings,
    with ``--operations PATH`` that operations page's fault matrix."""
    from .faults import update_operations

    args = sys.argv[1:] if argv is None else argv
    rewrites = {"--readme": update_readme, "--operations": update_operations}
    if len(args) == 2 and args[0] in rewrites:
        path = args[1]
        with open(path, encoding="utf-8") as page:
            text = page.read()
        with open(path, "w", encoding="utf-8") as page:
            page.write(rewrites[args[0]](text))
        return
    sys.stdout.buffer.write(render_troubleshooting(load_sip_status()).encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
