"""`make audit-deps` (scripts/audit_deps.py): a known vulnerability fails it, offline too."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_deps"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


audit_deps = _script()

VULNERABLE = {
    "dependencies": [
        {"name": "streamlit", "version": "1.67.0", "vulns": []},
        {
            "name": "jinja2",
            "version": "2.10",
            "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": ["CVE-2019-10906"]}],
        },
    ],
    "fixes": [],
}
CLEAN = {"dependencies": [{"name": "streamlit", "version": "1.67.0", "vulns": []}], "fixes": []}
SKIPPED = {"dependencies": [{"name": "streamlit", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}


@pytest.mark.parametrize(("report", "code"), [(VULNERABLE, 1), (CLEAN, 0), (SKIPPED, 1)])
def test_a_pip_audit_report_is_judged(tmp_path: Path, report: dict[str, Any], code: int, capsys: Any) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert audit_deps.main(["--json", str(path)]) == code
    shown = capsys.readouterr().out
    if code and report is VULNERABLE:
        assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (fixed in: 2.10.1)" in shown
        assert "FAILED" in shown


def test_the_project_pages_fallback_fails_on_a_vulnerable_newest_release(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = {
        "https://pypi.org/pypi/oldlib/json": {"info": {"version": "2.0"}, "vulnerabilities": []},
        "https://pypi.org/pypi/badlib/json": {
            "info": {"version": "1.0"},
            "vulnerabilities": [{"id": "GHSA-xxxx", "fixed_in": []}, {"id": "OLD", "fixed_in": [], "withdrawn": "x"}],
        },
        "https://pypi.org/pypi/goodlib/json": {"info": {"version": "3.1"}},
    }
    monkeypatch.setattr(audit_deps, "_get_json", lambda url, data=None: pages[url])
    verdict = audit_deps.audit_with_project_pages([("oldlib", "1.0"), ("badlib", "1.0"), ("goodlib", "3.1")])
    assert [(f.name, f.vulnerability) for f in verdict.findings] == [("badlib", "GHSA-xxxx")]
    assert verdict.unaudited == ["oldlib 1.0: pinned below the newest release 2.0"]
    assert verdict.exit_code(require_audit=False) == 1
    clean = audit_deps.audit_with_project_pages([("oldlib", "1.0"), ("goodlib", "3.1")])
    assert clean.exit_code(require_audit=False) == 0  # not audited is reported, not fatal ...
    assert clean.exit_code(require_audit=True) == 1  # ... unless PORTAL_REQUIRE_AUDIT=1


def test_the_makefile_audits_before_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\naudit-deps:" in makefile
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "audit-deps" in test_rule
