"""Shared fixtures: the format's test vectors and keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner.keys import TrustStore, load_signing_key

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
