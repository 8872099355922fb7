"""The sample nginx configuration (deploy/nginx/portal.conf): nginx accepts it, its upload limit
matches Streamlit's, and its Content-Security-Policy allows the inline scripts of the installed
Streamlit and cookie-manager component (by hash) and nothing else inline."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import streamlit

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "portal.conf"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for the check (made here, never kept in the repository)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal.example.cn")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        skip_or_fail("nginx is not installed (Debian: apt-get install nginx)")
    _self_signed(tmp_path)
    (tmp_path / "logs").mkdir()
    text = CONF.read_text().replace("/etc/ssl/portal/", f"{tmp_path}/").replace("/var/log/nginx/", f"{tmp_path}/logs/")
    (tmp_path / "portal.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/logs/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    client_body_temp_path {tmp_path}/body;\n"
        f"    proxy_temp_path {tmp_path}/proxy;\n"
        f"    include {tmp_path}/portal.conf;\n"
        "}\n"
    )
    run = subprocess.run(
        [nginx, "-t", "-q", "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "logs" / "startup.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr + (tmp_path / "logs" / "startup.log").read_text(errors="replace")


def _inline_script_hashes(html: Path) -> set[str]:
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html.read_text(), re.S)
    return {"sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts}


def test_the_content_security_policy_allows_exactly_the_installed_inline_scripts() -> None:
    import extra_streamlit_components

    pages = [
        Path(streamlit.__file__).parent / "static" / "index.html",
        Path(extra_streamlit_components.__file__).parent / "CookieManager" / "frontend" / "build" / "index.html",
    ]
    needed = set().union(*(_inline_script_hashes(page) for page in pages))
    policy = re.search(r'add_header Content-Security-Policy "([^"]+)"', CONF.read_text())
    assert policy is not None
    script_src = next(d for d in policy.group(1).split(";") if d.strip().startswith("script-src"))
    allowed = set(re.findall(r"'(sha256-[^']+)'", script_src))
    assert needed <= allowed, f"put these in script-src of {CONF.name}: {sorted(needed - allowed)}"
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'self'" in policy.group(1)  # the cookie manager is an iframe of this origin


def test_the_upload_limit_matches_streamlits() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    streamlit_mb = int(config["server"]["maxUploadSize"])
    nginx_mb = int(re.search(r"client_max_body_size (\d+)m;", CONF.read_text()).group(1))  # type: ignore[union-attr]
    assert streamlit_mb <= nginx_mb <= streamlit_mb + 2  # room for the multipart envelope, no more


def _two_processes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("two_processes", ROOT / "deploy" / "two_processes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["two_processes"] = module
    spec.loader.exec_module(module)
    return module


def _locations(text: str) -> list[str]:
    return re.findall(r"^\s*location\s+([^{]+?)\s*\{", text, re.M)


def test_the_two_process_configuration_is_the_sample_on_the_loopback(tmp_path: Path) -> None:
    """deploy/two_processes.py's nginx.conf keeps the sample's routing and locations, and nginx accepts it."""
    two = _two_processes()
    generated = two.nginx_config([18501, 18502], 18080, tmp_path)
    sample = CONF.read_text()
    https = sample[sample.index("listen 443") :]
    assert _locations(generated) == _locations(https)
    for line in (
        "hash $portal_route consistent;",
        "map $cookie_portal_route $portal_route {",
        "map $http_upgrade $connection_upgrade {",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "add_header Set-Cookie $portal_route_cookie;",
        "client_max_body_size 21m;",
    ):
        assert line in sample and line in generated
    assert "server 127.0.0.1:18501 max_fails=3 fail_timeout=10s;" in generated
    assert "server 127.0.0.1:18502 max_fails=3 fail_timeout=10s;" in generated
    assert "8501" not in generated.replace("18501", "")
    assert "listen 127.0.0.1:18080;" in generated
    assert "add_header X-Portal-Upstream $upstream_addr always;" in generated
    assert "ssl_" not in generated and "listen 443" not in generated
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        skip_or_fail("nginx is not installed (Debian: apt-get install nginx)")
    (tmp_path / "nginx.conf").write_text(generated)
    run = two.check_config(tmp_path / "nginx.conf", tmp_path, nginx)
    startup = tmp_path / "startup.log"
    assert run.returncode == 0, run.stderr + (startup.read_text(errors="replace") if startup.exists() else "")
