"""Shared fixtures (the format's test vectors and keys) and the quick subset.

``pytest -m "not slow"`` runs everything except the tests that compile JAX,
train a model or drive long-running processes; the full suite runs them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest

from provisioner.keys import TrustStore, load_signing_key

# Why hypothesis is imported here, in every process: its pytest plugin imports
# hypothesis at the very end of a session (in the terminal summary) if no test
# did. In a pytest-xdist worker that ran no hypothesis test, that import
# (seconds, with assertion rewriting, on a loaded machine) lands after the
# worker said it had finished; execnet waits 5 s for it and then sends the
# worker SIGINT, which printed a KeyboardInterrupt traceback at the end of a
# green run. Importing it at start-up keeps the end of the session short.

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "format_spec" / "vectors"


def load_index() -> dict[str, Any]:
    return json.loads((VECTORS / "index.json").read_text())


def load_vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@pytest.fixture(scope="session")
def vector_index() -> dict[str, Any]:
    return load_index()


@pytest.fixture(scope="session")
def golden_trust() -> TrustStore:
    return TrustStore.from_paths([VECTORS / "keys" / "golden.pub"])


@pytest.fixture(scope="session")
def golden_key():
    return load_signing_key(VECTORS / "keys" / "golden.key")


# Modules whose every test compiles JAX or trains a model.
SLOW_MODULES = (
    "tests/trainer/dp/",
    "tests/trainer/test_train.py",
    "tests/trainer/test_kinds.py",
    "tests/trainer/test_cli_train.py",
    "tests/trainer/test_made_parity.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if path.startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
