"""What one TLS connection costs callvisor's side, alone: client CPU per handshake and idle memory.

    PYTHONPATH=$PWD python -m bench.tlscost [--connections 1000]

A TLS echo server (trio, a trustme CA, in a process of its own) and, for each mode, a fresh
client process that opens ``--connections`` connections the way the sideband does
(``trio.SSLStream`` over TCP with the process's one verifying context, one small exchange each)
and keeps them open: ``plain`` (TCP only), ``full`` (a full handshake each) and ``resumed`` (each
connection offered the newest session, as ``actors.tls.TlsSessions`` does).  Measured per
connection: the client's CPU (user + system) and its RSS growth, and in a second process per mode
(tracemalloc slows everything) how much of that is Python objects.  The difference between the modes is what TLS adds to a call.
"""

from __future__ import annotations

import argparse
import json
import resource
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import trio

MODES = ("plain", "full", "resumed")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def _echo(stream: trio.abc.Stream) -> None:
    try:
        while data := await stream.receive_some():
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass


async def _serve(ca_file: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with trio.open_nursery() as nursery:
        tls = await nursery.start(trio.serve_ssl_over_tcp, _echo, 0, context)
        plain = await nursery.start(trio.serve_tcp, _echo, 0)
        ports = {"tls": tls[0].transport_listener.socket.getsockname()[1], "plain": plain[0].socket.getsockname()[1]}
        print(json.dumps(ports), flush=True)


async def _client(mode: str, port: int, count: int, ca_file: Path, trace: bool) -> dict[str, Any]:
    """One mode's connections; with ``trace``, only the Python objects (tracemalloc slows all)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["http/1.1"])
    streams: list[trio.abc.Stream] = []
    session: ssl.SSLSession | None = None
    reused = 0
    if trace:
        tracemalloc.start()
    rss_before, python_before = _rss(), tracemalloc.get_traced_memory()[0]
    cpu_before = time.process_time()
    for _ in range(count):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream: trio.abc.Stream = tcp
        if mode != "plain":
            tls = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
            if mode == "resumed" and session is not None:
                tls.session = session
            await tls.do_handshake()
            stream = tls
        await stream.send_all(b"x" * 200)
        await stream.receive_some()
        if isinstance(stream, trio.SSLStream):
            reused += bool(stream.session_reused)
            if stream.session is not None and stream.session.has_ticket:
                session = stream.session
        streams.append(stream)
    cpu = time.process_time() - cpu_before
    rss, python = _rss() - rss_before, tracemalloc.get_traced_memory()[0] - python_before
    if trace:
        return {"python_kib_per_connection": round(python / count / 1024, 1)}
    return {
        "mode": mode, "connections": count, "resumed": reused,
        "cpu_ms_per_connection": round(1000 * cpu / count, 3),
        "rss_kib_per_connection": round(rss / count / 1024, 1),
    }


def measure(*, connections: int = 1000) -> dict[str, Any]:
    """Every mode, each in a fresh client process, against one server process."""
    with tempfile.TemporaryDirectory(prefix="tlscost.") as tmp:
        ca_file = Path(tmp) / "ca.pem"
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.tlscost", "serve", str(ca_file)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            ports = json.loads(server.stdout.readline())
            results = []
            for mode in MODES:
                port = ports["plain" if mode == "plain" else "tls"]
                figures: dict[str, Any] = {}
                for trace in ("", "trace"):
                    done = subprocess.run(
                        [sys.executable, "-m", "bench.tlscost", "client", mode, str(port), str(connections),
                         str(ca_file), trace],
                        capture_output=True, text=True, timeout=300, check=True,
                    )
                    figures.update(json.loads(done.stdout))
                results.append(figures)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {"modes": results}


def section(report: dict[str, Any] | None) -> list[str]:
    """The page's table of what one TLS connection costs on its own."""
    if not report:
        return []
    lines = [
        "### One TLS connection, alone",
        "",
        "`bench/tlscost.py` in this run: a fresh client process opens 1,000 connections the way the sideband does",
        "(`trio.SSLStream`, the process's one verifying context, one small exchange) and keeps them open.",
        "",
        "| connections | client CPU per connection | RSS per idle connection | of which Python objects | resumed |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in report["modes"]:
        lines.append(
            f"| {m['mode']} | {m['cpu_ms_per_connection']:.3f} ms | {m['rss_kib_per_connection']:.1f} KiB"
            f" | {m['python_kib_per_connection']:.1f} KiB | {m['resumed']:,} of {m['connections']:,} |"
        )
    lines += [
        "",
        "The TLS rows less the plain one are what TLS adds to each call: the handshake's CPU (resumption saves",
        "part of it) and OpenSSL's own per-connection state, which tracemalloc does not see (it is not Python",
        "memory; OpenSSL already frees idle record buffers, SSL_MODE_RELEASE_BUFFERS).",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        trio.run(_serve, Path(argv[1]))
        return 0
    if argv[:1] == ["client"]:
        mode, port, count, ca_file = argv[1], int(argv[2]), int(argv[3]), Path(argv[4])
        trace = argv[5:6] == ["trace"]
        print(json.dumps(trio.run(_client, mode, port, count, ca_file, trace)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args(argv)
    report = measure(connections=args.connections)
    print(json.dumps(report, indent=1))
    print("\n".join(section(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
