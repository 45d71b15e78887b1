"""A reader written from HZG.md alone agrees with provisioner on every vector.

``cleanroom.py`` implements section 3's steps with the standard library
(plus cryptography and zstandard's inflate); where it and the project's
reader differ, the spec left room for two readings. The second test feeds
both readers bundles from the fuzz grammar and compares their verdicts.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import serialization

from provisioner import HzgError, decode_bundle
from provisioner.generator import Generator
from scripts import fuzz_bundle
from tests.conftest import VECTORS, load_index, load_vector
from tests.format import cleanroom

INDEX = load_index()


def trusted() -> dict[bytes, object]:
    keys = {}
    for path in INDEX["trusted_keys"]:
        key = serialization.load_pem_public_key((VECTORS / path).read_bytes())
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        import hashlib

        keys[hashlib.sha256(raw).digest()[:16]] = key
    return keys


TRUSTED = trusted()


@pytest.mark.parametrize("vector", INDEX["vectors"],
                         ids=lambda v: v["file"] + (" skip" if v.get("insecure_skip_verify")
                                                    else ""))
def test_cleanroom_reader_agrees_with_the_index(vector):
    got = cleanroom.read(load_vector(vector["file"]), TRUSTED, INDEX["now"],
                         vector.get("insecure_skip_verify", False))
    assert got == vector["expect"], vector["why"]


def project_verdict(data: bytes, trust) -> str:
    try:
        Generator.from_opened(decode_bundle(data, trust=trust, now=INDEX["now"]))
        return "ok"
    except HzgError as exc:
        return exc.code


@pytest.mark.parametrize("first", range(0, 600, 100))
def test_both_readers_agree_on_fuzzed_bundles(first, golden_trust):
    for seed in range(first, first + 100):
        data = fuzz_bundle.bundle(fuzz_bundle.RandomDraw(random.Random(seed)))
        ours = project_verdict(data, golden_trust)
        theirs = cleanroom.read(data, TRUSTED, INDEX["now"])
        assert ours == theirs, f"seed {seed}: provisioner says {ours}, cleanroom {theirs}"
