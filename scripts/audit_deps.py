"""`make audit-deps`: fail on a known vulnerability in the packages the portal runs with.

Audits the project's virtual environment (what requirements.txt and requirements-dev.txt pinned
and installed, transitive dependencies included) with pip-audit, using the first vulnerability
service that answers:

1. OSV (pip-audit's default), then PyPI's per-release JSON (``--vulnerability-service pypi``):
   pip-audit with ``--strict``, so a package it could not look up fails the audit too.
2. Where neither answers (a network that reaches PyPI's project pages only, as on this project's
   machines), PyPI's project JSON, whose ``vulnerabilities`` list is that of the newest release:
   every package pinned at the newest release is audited exactly; the others are listed as not
   audited.

Exit status: 1 when a vulnerability is known (each is printed with the versions that fix it), or
when nothing could be audited and PORTAL_REQUIRE_AUDIT=1; 0 otherwise. A skipped audit is never
silent: it prints what was not checked and why.

    python scripts/audit_deps.py            # the running interpreter's environment
    python scripts/audit_deps.py --json REPORT.json   # judge a pip-audit JSON report (tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

TIMEOUT = 20
CANARY = ("jinja2", "2.10")  # a release with published advisories: a service that answers knows them
OSV_URL = "https://api.osv.dev/v1/query"
PYPI_URL = "https://pypi.org/pypi/{name}/json"
PYPI_RELEASE_URL = "https://pypi.org/pypi/{name}/{version}/json"


@dataclass
class Finding:
    name: str
    version: str
    vulnerability: str
    fixed_in: list[str]


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)  # "name version: why"
    service: str = ""
    strict: bool = True  # a package not audited fails the audit (pip-audit --strict)

    def exit_code(self, require_audit: bool) -> int:
        if self.findings:
            return 1
        if self.unaudited and (self.strict or require_audit):
            return 1
        return 0


# --- judging a pip-audit report -----------------------------------------------------------------------


def judge_pip_audit(report: dict[str, Any]) -> Verdict:
    """A pip-audit JSON report (``--format json``) as a verdict."""
    verdict = Verdict(service="pip-audit")
    for dependency in report.get("dependencies", []):
        name, version = dependency.get("name", "?"), dependency.get("version", "?")
        if "skip_reason" in dependency:
            verdict.unaudited.append(f"{name} {version}: {dependency['skip_reason']}")
            continue
        for vulnerability in dependency.get("vulns", []):
            verdict.findings.append(
                Finding(name, version, vulnerability.get("id", "?"), list(vulnerability.get("fix_versions", [])))
            )
    return verdict


# --- the services ----------------------------------------------------------------------------------------


def _get_json(url: str, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # fixed https URLs only
        return json.load(response)


def osv_answers() -> bool:
    name, version = CANARY
    query = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
    try:
        return bool(_get_json(OSV_URL, json.dumps(query).encode()).get("vulns"))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def pypi_release_answers() -> bool:
    name, version = CANARY
    try:
        return bool(_get_json(PYPI_RELEASE_URL.format(name=name, version=version)).get("vulnerabilities"))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def installed(skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(name, version) of every distribution in the running environment."""
    skipped = {s.lower() for s in skip}
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and name.lower() not in skipped:
            found[name.lower()] = (name, dist.version)
    return sorted(found.values())


def audit_with_project_pages(packages: Sequence[tuple[str, str]]) -> Verdict:
    """PyPI's project JSON: its vulnerabilities are the newest release's. Exact for a package
    pinned at the newest release; the others cannot be judged from it."""
    verdict = Verdict(service="PyPI project pages (newest releases only)", strict=False)

    def page_of(name: str) -> Any:
        try:
            return _get_json(PYPI_URL.format(name=name))
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(page_of, [name for name, _version in packages]))
    for (name, version), page in zip(packages, pages, strict=True):
        if isinstance(page, Exception):
            verdict.unaudited.append(f"{name} {version}: PyPI did not answer ({page})")
            continue
        newest = page.get("info", {}).get("version", "")
        if newest != version:
            verdict.unaudited.append(f"{name} {version}: pinned below the newest release {newest}")
            continue
        for vulnerability in page.get("vulnerabilities") or []:
            if vulnerability.get("withdrawn"):
                continue
            verdict.findings.append(
                Finding(name, version, vulnerability.get("id", "?"), list(vulnerability.get("fixed_in") or []))
            )
    return verdict


def audit_with_pip_audit(service: str, extra: Sequence[str]) -> Verdict:
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--vulnerability-service",
            service,
            "--strict",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report_path),
            *extra,
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if not report_path.exists():
            print(run.stderr.strip(), file=sys.stderr)
            verdict = Verdict(service=f"pip-audit ({service})")
            verdict.unaudited.append(f"pip-audit failed (exit {run.returncode}): {run.stderr.strip()[-300:]}")
            return verdict
        verdict = judge_pip_audit(json.loads(report_path.read_text()))
        verdict.service = f"pip-audit ({service})"
        return verdict


# --- the report -------------------------------------------------------------------------------------------


def report(verdict: Verdict, require_audit: bool) -> int:
    code = verdict.exit_code(require_audit)
    print(f"Dependency audit via {verdict.service}")
    for finding in verdict.findings:
        fix = ", ".join(finding.fixed_in) or "no fixed release yet"
        print(f"  VULNERABLE {finding.name} {finding.version}: {finding.vulnerability} (fixed in: {fix})")
    if verdict.unaudited:
        print(f"  NOT AUDITED ({len(verdict.unaudited)}):")
        for line in verdict.unaudited:
            print(f"    {line}")
    if not verdict.findings:
        print("  No known vulnerabilities in the packages audited.")
    if code:
        print("Dependency audit FAILED.")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="judge this pip-audit JSON report instead of auditing")
    parser.add_argument("pip_audit_args", nargs="*", help="passed to pip-audit (after --)")
    args = parser.parse_args(argv)
    require_audit = os.environ.get("PORTAL_REQUIRE_AUDIT") == "1"
    if args.json:
        verdict = judge_pip_audit(json.loads(args.json.read_text()))
        verdict.service = f"pip-audit report {args.json.name}"
        return report(verdict, require_audit)
    if osv_answers():
        return report(audit_with_pip_audit("osv", args.pip_audit_args), require_audit)
    if pypi_release_answers():
        return report(audit_with_pip_audit("pypi", args.pip_audit_args), require_audit)
    print("OSV and PyPI's per-release vulnerability data did not answer: falling back to PyPI's project pages.")
    return report(audit_with_project_pages(installed()), require_audit)


if __name__ == "__main__":
    sys.exit(main())
