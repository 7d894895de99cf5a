"""Hypercorn as callvisor runs it: one config builder, and four corrections to hypercorn 0.18.

Every HTTP server of the process (the public port, the operator port) and of its test tools
(the simulated platform, ``callvisor simulate``, the benchmark platform) is a hypercorn server
configured by :func:`hypercorn_config`.  :func:`install` corrects, once per process, four things
hypercorn does that an operator would see:

* **Malformed HTTP gets JSON.**  A request h11 cannot parse (a NUL in a header, two
  Content-Lengths, a 16 KiB header, an unknown transfer coding, no Host) is answered by hypercorn
  itself, before any app runs, with an empty body and no log line.  Here it gets the status h11
  chose and ``{"ok": false, "error": "malformed_http", "status": STATUS}``, and one
  ``http_request_malformed`` log line (rate-limited) with h11's reason, cut before any quoted
  input: what the client sent is untrusted and may hold its own secrets.
* **A connection the client closed is closed at once.**  When a client closes a connection
  on which it sent no request (a port probe, a load balancer's check, a connection opened in a
  burst and given up), hypercorn's connection task waits for its keep-alive timer
  (``keep_alive_timeout``, 30 s here) before it closes its end, so each one sat in CLOSE_WAIT
  holding a descriptor; under a burst of short connections that exhausted the descriptors.
  Here the timer stops when the client's end of the stream does.
* **An answer given before the body was read is sent whole.**  When the app answers while the
  client is still sending its body (a 404, a 405, a 413), hypercorn's reader may close the
  connection's sending side (``send_eof``) while the app's last bytes are being sent; trio
  refuses the second sender, and hypercorn logged "Error in ASGI Framework" with
  ``trio.BusyResourceError`` for about one such answer in two.  Here closing takes the same lock
  as sending.
* **Descriptor exhaustion is one rate-limited line.**  When ``accept`` fails with EMFILE (or
  ENFILE, ENOMEM, ENOBUFS), trio's accept loop already waits 100 ms and tries again, so service
  resumes within a tenth of a second of descriptors coming free; but it logs a traceback at
  ERROR on every try, ten a second per port.  Here that becomes ``accept_capacity_exhausted``:
  the first at once, then at most one every :data:`EXHAUSTED_LOG_PERIOD_S` with the number of
  refusals since the last line.

The corrections replace two names hypercorn resolves at run time (the protocol class its
connection wrapper builds, and the connection class its trio server runs) with subclasses that
override one method each.  They are tied to hypercorn 0.18 (pinned in constraints.txt);
tests/e2e/test_http_server.py fails if an upgrade changes what they rely on.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
from itertools import chain

import h11
import hypercorn.protocol
import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.tcp_server import TCPServer

from actors.log import log_event
from config.settings import Bind

#: Hypercorn's keep-alive timeout here: under a burst a request may wait in the loop's queue
#: longer than hypercorn's default 5 s before it is parsed, and hypercorn would drop its
#: connection (measured in the burst benchmark); OpenAI's deliveries are spaced well below this.
KEEP_ALIVE_TIMEOUT_S = 30.0

#: At most one ``accept_capacity_exhausted`` (and one ``http_request_malformed``) line per period.
EXHAUSTED_LOG_PERIOD_S = 10.0

_TRIO_ACCEPT_LOGGER = "trio.serve_listeners"


def hypercorn_config(bind: Bind | str, *, errorlog: str = "hypercorn.error") -> Config:
    """A hypercorn config bound to ``bind`` (a :class:`Bind`, or ``host:port`` as hypercorn
    spells it), without an access log, errors to the ``errorlog`` logger."""
    config = Config()
    if isinstance(bind, Bind):
        host = f"[{bind.host}]" if ":" in bind.host else bind.host
        bind = f"{host}:{bind.port}"
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = logging.getLogger(errorlog)
    config.graceful_timeout = 5.0
    config.keep_alive_max_requests = 1_000_000
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    return config


#: Descriptors a process needs besides one per live call and two per webhook in delivery: call
#: control's and the tools' pools, MongoDB's, the listeners, the log, the interpreter's own.
FD_RESERVE = 256


def descriptors_needed(max_concurrent_calls: int) -> int:
    """Open files a process sized for ``max_concurrent_calls`` needs: each live call holds its
    sideband socket, and as many webhooks again may be in delivery (a connection each, plus the
    call control connection its decision uses), over :data:`FD_RESERVE`."""
    return 2 * max_concurrent_calls + FD_RESERVE


def raise_open_file_limit(max_concurrent_calls: int) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (what any process may do), and
    log ``fd_limit_low`` when even that is below :func:`descriptors_needed`.

    Returns (the limit now in force, the number needed).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):  # e.g. above fs.nr_open: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    needed = descriptors_needed(max_concurrent_calls)
    if soft < needed:
        log_event(
            logging.WARNING, "fd_limit_low",
            "open-file limit is below what MAX_CONCURRENT_CALLS needs",
            fd_limit=soft, needed=needed, max_concurrent_calls=max_concurrent_calls,
        )
    return soft, needed


def install() -> None:
    """Apply the corrections above to this process's hypercorn (idempotent)."""
    hypercorn.protocol.H11Protocol = _JsonErrorsH11Protocol  # type: ignore[attr-defined]
    hypercorn.trio.run.TCPServer = _PromptCloseTCPServer  # type: ignore[attr-defined]
    accept_logger = logging.getLogger(_TRIO_ACCEPT_LOGGER)
    if not any(isinstance(f, _AcceptExhaustedFilter) for f in accept_logger.filters):
        accept_logger.addFilter(_AcceptExhaustedFilter())


class _RateLimit:
    """Lets one line through per period of the trio run's clock, counting what it held back.

    Its state lives in a :class:`trio.lowlevel.RunVar`: one per trio run (a process serves in
    one; a test suite runs many, each with its own clock).
    """

    def __init__(self, name: str, period_s: float = EXHAUSTED_LOG_PERIOD_S) -> None:
        self.period_s = period_s
        self._state: trio.lowlevel.RunVar[list[float]] = trio.lowlevel.RunVar(name)

    def allow(self) -> tuple[bool, int]:
        """Whether to log now, and how many were held back since the last line."""
        try:
            state = self._state.get()
        except LookupError:
            state = [-float("inf"), 0.0]  # next line's time, held back since the last one
            self._state.set(state)
        now = trio.current_time()
        if now < state[0]:
            state[1] += 1
            return False, 0
        held_back = int(state[1])
        state[0], state[1] = now + self.period_s, 0.0
        return True, held_back


class _AcceptExhaustedFilter(logging.Filter):
    """Turns trio's per-try EMFILE traceback into a rate-limited ``accept_capacity_exhausted``."""

    _limit = _RateLimit("callvisor.accept_exhausted")

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("accept returned"):
            return True  # anything else trio's accept loop says goes through as it is
        log_now, held_back = self._limit.allow()
        if log_now:
            errno_name = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            log_event(
                logging.ERROR, "accept_capacity_exhausted",
                "accept failed for lack of descriptors or memory; retrying every 0.1 s",
                errno=errno_name, refused_since_last_line=held_back + 1,
            )
        return False


_MALFORMED_LIMIT = _RateLimit("callvisor.malformed_http")

#: h11's reason up to the first quote, colon or brace: the rest may repeat the client's bytes.
_REASON = re.compile(r"[^'\"{:]{0,80}")


class _ReasonKeepingConnection(h11.Connection):
    """An h11 connection that keeps the reason of the protocol error it last raised."""

    last_error = ""

    def next_event(self):  # type: ignore[no-untyped-def]  # h11's own signature
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            match = _REASON.match(str(error))
            self.last_error = match.group(0).strip() if match else ""
            raise


class _JsonErrorsH11Protocol(H11Protocol):
    """h11's protocol errors answered with a JSON body, and logged."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]  # hypercorn's
        super().__init__(*args, **kwargs)
        self.connection = _ReasonKeepingConnection(
            h11.SERVER, max_incomplete_event_size=self.config.h11_max_incomplete_size
        )

    async def _send_error_response(self, status_code: int) -> None:
        body = b'{"ok": false, "error": "malformed_http", "status": %d}' % status_code
        log_now, held_back = _MALFORMED_LIMIT.allow()
        if log_now:
            connection = self.connection
            reason = connection.last_error if isinstance(connection, _ReasonKeepingConnection) else ""
            log_event(
                logging.WARNING, "http_request_malformed",
                "request is not valid HTTP/1.1; answered without reaching the app",
                status=status_code, reason=reason,
                dropped_since_last_line=held_back,
            )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await self._send_h11_event(
            h11.Response(status_code=status_code, headers=list(chain(headers, self.config.response_headers("h11"))))
        )
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


class _PromptCloseTCPServer(TCPServer):
    """Closes a connection as soon as its client's end is gone, not a keep-alive timeout later,
    and never while another task is sending on it."""

    async def _read_data(self) -> None:
        await super()._read_data()
        await self.idle_task.stop()

    async def _close(self) -> None:
        lock = self.send_lock
        if lock.statistics().owner is trio.lowlevel.current_task():
            await super()._close()  # from inside a send that failed: nothing else is sending
            return
        async with lock:
            await super()._close()
