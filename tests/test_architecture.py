"""The layout is a rule, not a wish: which package may import what, and modules small enough to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
STDLIB = sys.stdlib_module_names | {"__future__"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


def offenders(package: str, allowed) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in sorted(imported(path))
        if not allowed(name)
    ]


def test_the_call_logic_is_pure():
    """ivr/call imports only the standard library, ivr.flows and itself: no Redis, Flask, Twilio or I/O."""

    def allowed(name: str) -> bool:
        return top(name) in STDLIB or name.startswith(("ivr.call", "ivr.flows", "ivr.errors"))  # errors: the root

    assert offenders("ivr/call", allowed) == []


def test_the_metrics_are_pure():
    """ivr/report computes from records alone: the standard library, nothing else."""
    assert offenders("ivr/report", lambda name: top(name) in STDLIB or name.startswith("ivr.report")) == []


def test_the_flows_know_nothing_of_calls_or_storage():
    def allowed(name: str) -> bool:
        return not name.startswith(("ivr.call", "ivr.store", "ivr.dispatcher", "ivr.tools", "webhooks", "redis"))

    assert offenders("ivr/flows", allowed) == []


def test_only_the_store_imports_redis():
    outside = [
        f"{path.relative_to(ROOT)}"
        for package in ("ivr", "webhooks")
        for path in modules(package)
        if not path.is_relative_to(ROOT / "ivr" / "store") and any(top(n) == "redis" for n in imported(path))
    ]
    assert outside == []


@pytest.mark.parametrize("package", ["ivr", "ivr/dispatcher"])
def test_nothing_in_ivr_imports_flask(package):
    assert offenders(package, lambda name: top(name) not in ("flask", "werkzeug", "webhooks")) == []


def test_twiml_is_built_in_one_module():
    """Only ivr/render.py builds TwiML; the phone in ivr/tools reads it with the standard library."""
    builders = [
        f"{path.relative_to(ROOT)}"
        for package in ("ivr", "webhooks")
        for path in modules(package)
        if path != ROOT / "ivr" / "render.py" and any(n.startswith("twilio.twiml") for n in imported(path))
    ]
    assert builders == []


def test_the_worker_runs_without_flask():
    code = "import sys, ivr.dispatcher.worker; print(sorted(m for m in sys.modules if m.startswith('flask')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {
        str(path.relative_to(ROOT)): lines
        for package in ("ivr", "webhooks")
        for path in modules(package)
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
