"""Two portal processes behind nginx on the loopback, sharing one PostgreSQL database.

    python deploy/two_processes.py --database-url postgresql://portal:***@127.0.0.1:5432/portal [--port 8080]

starts two ``streamlit run streamlit_app.py`` processes on free loopback ports, with the caller's
environment (so the same secrets: ``PORTAL_COOKIE_KEY``, ``PORTAL_ENCRYPTION_KEY`` … or the same
secrets file) and the same ``DATABASE_URL``, and nginx (``/usr/sbin/nginx``, run as the current user,
``daemon off``) with a configuration generated in a temporary directory. It waits until
``/_stcore/health`` answers through nginx, prints the URL, and stops everything on Ctrl-C or SIGTERM.
The database must already be migrated (``python -m portal db upgrade``).

The nginx configuration is not written by hand here: ``nginx_config`` reads the production sample
``deploy/nginx/portal.conf`` and keeps its blocks (the ``portal_route`` cookie maps, the upstream
with ``hash $portal_route consistent``, the WebSocket upgrade map, the request limits, the
security headers, the proxy headers and every ``location``), changing only what a loopback test
cannot have: the upstream's ``server`` lines point at the two free ports, the port-80 redirect
server is dropped, the HTTPS server listens on plain HTTP on the given loopback port (its
``listen``/``ssl_*`` lines and HSTS are dropped; the CSP's ``connect-src wss://$host`` becomes
``ws://$http_host``, as the loopback port is part of the origin), logs and nginx's temporary files
go to the temporary directory (run as root, nginx's workers stay root: ``user root``), and one
header is added, ``X-Portal-Upstream: $upstream_addr``, so that a
test can tell which process served a browser. A separate template in deploy/nginx/ was the other
choice; it was not taken because a second copy of the routing is exactly what drifts: with the
sample as the only source, the browser test (tests/e2e/test_two_processes.py) exercises the
routing that production uses, and tests/deploy/test_nginx.py checks that the generated file keeps
every location of the sample and that ``nginx -t`` accepts it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "deploy" / "nginx" / "portal.conf"
NGINX = "/usr/sbin/nginx"
UPSTREAM_HEADER = "X-Portal-Upstream"
HEALTH_TIMEOUT_S = 90.0


# --- the nginx configuration -------------------------------------------------------------------------


def _statements(text: str) -> list[str]:
    """The top-level statements of an nginx file (comments removed): ``name args;`` or ``name args { … }``."""
    lines = [re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines()]
    text = "\n".join(line for line in lines if line.strip())
    found: list[str] = []
    depth, start, quote = 0, 0, ""
    for index, char in enumerate(text):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                found.append(text[start : index + 1].strip())
                start = index + 1
        elif char == ";" and depth == 0:
            found.append(text[start : index + 1].strip())
            start = index + 1
    return [s for s in found if s]


def _body_lines(block: str) -> list[str]:
    """The lines between a block's outer braces."""
    return block[block.index("{") + 1 : block.rindex("}")].strip("\n").splitlines()


def nginx_config(
    ports: Sequence[int], listen_port: int, folder: Path, *, sample: Path = SAMPLE, listen_host: str = "127.0.0.1"
) -> str:
    """A complete nginx.conf for the loopback test, made from the production sample's blocks."""
    kept: list[str] = []
    https = None
    for statement in _statements(sample.read_text(encoding="utf-8")):
        if statement.startswith("server") and statement[len("server") :].lstrip().startswith("{"):
            if "ssl_certificate" in statement:
                https = statement
            continue  # the port-80 redirect is not needed on the loopback
        if statement.startswith("upstream"):
            lines = [line for line in _body_lines(statement) if not line.strip().startswith("server ")]
            # the sample's options of each server (max_fails …), on the free ports
            options = re.search(r"^\s*server\s+\S+\s*(.*?);", statement, re.M)
            extra = f" {options.group(1)}" if options and options.group(1) else ""
            servers = [f"    server 127.0.0.1:{port}{extra};" for port in ports]
            head = statement[: statement.index("{")].strip()
            statement = "\n".join([f"{head} {{", *servers, *lines, "}"])
        kept.append(statement)
    if https is None:
        raise ValueError(f"{sample} has no HTTPS server block")
    server = [f"    listen {listen_host}:{listen_port};"]
    for line in _body_lines(https):
        stripped = line.strip()
        if stripped.startswith(("listen ", "ssl_", "http2 ")) or "Strict-Transport-Security" in stripped:
            continue
        if stripped.startswith("server_name "):
            line = f"    server_name {listen_host};"
        line = line.replace("/var/log/nginx/", f"{folder}/")
        line = line.replace("wss://$host", "ws://$http_host")
        if stripped.startswith("add_header Set-Cookie"):
            server.append(f"    add_header {UPSTREAM_HEADER} $upstream_addr always;")
        server.append(line)
    root_user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {folder}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    http = "\n\n".join(kept) + "\n\nserver {\n" + "\n".join(server) + "\n}"
    return (
        f"# Generated by deploy/two_processes.py from {sample.name}; do not edit.\n"
        f"{root_user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n    default_type application/octet-stream;\n{temp}\n"
        + "\n".join(f"    {line}" if line else "" for line in http.splitlines())
        + "\n}\n"
    )


def check_config(config: Path, folder: Path, nginx: str = NGINX) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a generated configuration."""
    return subprocess.run(
        [nginx, "-t", "-q", "-p", str(folder), "-c", str(config), "-e", str(folder / "startup.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (OSError, urllib.error.URLError):
        return False


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
    ]


@dataclass
class Deployment:
    """Two portal processes and nginx; ``stop`` ends them all."""

    url: str
    folder: Path
    upstreams: list[str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(encoding='utf-8', errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for process in reversed(self.processes):  # nginx first, then the portal processes
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def start(
    database_url: str,
    port: int,
    *,
    folder: Path | None = None,
    env: dict[str, str] | None = None,
    nginx: str = NGINX,
    timeout: float = HEALTH_TIMEOUT_S,
) -> Deployment:
    """Start both processes and nginx; return once ``/_stcore/health`` answers through nginx for both.

    Raises RuntimeError (with the logs) when something does not come up; what was started is stopped."""
    folder = folder or Path(tempfile.mkdtemp(prefix="portal-two-"))
    folder.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ if env is None else env)
    environment.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    deployment = Deployment(f"http://127.0.0.1:{port}", folder, [f"127.0.0.1:{p}" for p in ports])
    try:
        for streamlit_port in ports:
            with (folder / f"streamlit-{streamlit_port}.log").open("wb") as log:
                deployment.processes.append(
                    subprocess.Popen(
                        streamlit_command(streamlit_port),
                        cwd=ROOT,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        config = folder / "nginx.conf"
        config.write_text(nginx_config(ports, port, folder), encoding="utf-8")
        checked = check_config(config, folder, nginx)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx refuses the generated configuration:\n{checked.stderr}")
        with (folder / "nginx-stdout.log").open("wb") as log:
            deployment.processes.append(
                subprocess.Popen(
                    [nginx, "-p", str(folder), "-c", str(config), "-e", str(folder / "startup.log")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + timeout
        waiting = [f"http://{u}" for u in deployment.upstreams]
        while waiting and time.monotonic() < deadline:
            if any(p.poll() is not None for p in deployment.processes):
                raise RuntimeError("a process exited while starting")
            waiting = [u for u in waiting if not healthy(u)]
            time.sleep(0.25)
        while time.monotonic() < deadline and not healthy(deployment.url):
            if any(p.poll() is not None for p in deployment.processes):
                raise RuntimeError("a process exited while starting")
            time.sleep(0.25)
        if waiting or not healthy(deployment.url):
            raise RuntimeError(f"not healthy within {timeout:.0f} s")
    except BaseException as exc:
        deployment.stop()
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"{exc}\n{deployment.logs()}") from exc
        raise
    return deployment


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Two portal processes behind nginx on the loopback.")
    parser.add_argument("--database-url", required=True, help="the shared (migrated) database")
    parser.add_argument("--port", type=int, default=8080, help="nginx's loopback port (default 8080)")
    args = parser.parse_args(argv)
    if not Path(NGINX).exists():
        print(f"{NGINX} not found (Debian: apt-get install nginx)", file=sys.stderr)
        return 2

    def _stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        deployment = start(args.database_url, args.port)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"portal: {deployment.url} (processes {', '.join(deployment.upstreams)}; files in {deployment.folder})")
    print("Ctrl-C stops everything.", flush=True)
    try:
        while all(p.poll() is None for p in deployment.processes):
            time.sleep(0.5)
        print("a process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        deployment.stop()
        shutil.rmtree(deployment.folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
