"""``python -m bench.peer``: serve the peer with uvicorn on a free loopback port.

Prints ``{"port": N}`` on stdout once the socket is bound, then the peer's JSON lines.
"""

from __future__ import annotations

import json
import socket
import sys

import uvicorn

from bench.sysinfo import raise_fd_limit

from .server import create_app


def main() -> None:
    raise_fd_limit()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    config = uvicorn.Config(create_app(), fd=sock.fileno(), log_level="warning", access_log=False)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
