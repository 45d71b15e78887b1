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


@pytest.fixture(scope="session", autouse=True)
def fixed_metadata_noise():
    """Metadata noise from a fixed seed in every in-process test.

    Typing, vocabularies and ranges are decided on noisy counts, so a test
    table near a threshold (a 3,000-row CSV's column types, a rare token)
    flips in a few percent of OS-noise runs: the mechanism working, not a
    fault, but a suite that fails one CI run in ten. Tests of the mechanisms
    themselves draw from their own seeded sources (``NoiseSource(rng)``) and
    check the noise's distribution; a test may nest another seed. DP-SGD's
    noise and ``hzg`` run in subprocesses stay OS-drawn.
    """
    try:
        from trainer.releases.noise import seeded_noise_for_tests
    except ImportError:  # a provisioner-only install
        yield
        return
    with seeded_noise_for_tests(20261202):
        yield
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
