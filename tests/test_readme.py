"""The README's two commands come first, and CI runs the second verbatim."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_demo_and_test_commands():
    demo, tests = readme_commands()
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert demo in head and tests in head
    assert "pip install" in demo and "demo" in demo
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci
