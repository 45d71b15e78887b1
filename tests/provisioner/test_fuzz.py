"""Property tests: no bundle, however hostile, escapes as anything but HzgError.

Byte flips and truncations are caught by the signature; the later groups
sign what they build with the trusted key so the checks behind the
signature are exercised: mutated headers, garbage headers, and bundles
built from the format's grammar by ``scripts/fuzz_bundle.py`` (hostile
values at every step), which are also shown and sampled to CSV. Peak memory
is bounded throughout; ``scripts/fuzz_bundle.py`` runs the grammar for as
long as one likes.
"""

from __future__ import annotations

import signal
import tracemalloc

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner import HzgError, decode_bundle
from provisioner.generator import Generator
from provisioner.scheme import BLOCK_BYTES
from scripts import fuzz_bundle as fuzz
from scripts.make_vectors import assemble, split, vector_key
from tests.conftest import load_index, load_vector

GOOD = load_vector("valid/kinds.hzg")
NOW = load_index()["now"]
KEY = vector_key("golden")
PEAK_LIMIT = 64 * 2**20
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_all(data: bytes, trust) -> None:
    Generator.from_opened(decode_bundle(data, trust=trust, now=NOW))


def refused_within_memory(data: bytes, trust) -> bool:
    """True if refused with HzgError; any other exception fails the test."""
    tracemalloc.start()
    try:
        read_all(data, trust)
        accepted = True
    except HzgError as exc:
        assert "\n" not in str(exc)
        accepted = False
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"peak {peak} bytes"
    return not accepted


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)),
                min_size=1, max_size=4, unique_by=lambda flip: flip[0]))
def test_byte_flips_are_always_refused(golden_trust, flips):
    data = bytearray(GOOD)
    for offset, xor in flips:
        data[offset] ^= xor
    assert refused_within_memory(bytes(data), golden_trust)


@SETTINGS
@given(st.integers(0, len(GOOD) - 1))
def test_truncations_are_always_refused(golden_trust, length):
    assert refused_within_memory(GOOD[:length], golden_trust)


@SETTINGS
@given(st.integers(0, len(GOOD)), st.binary(min_size=1, max_size=16))
def test_insertions_are_always_refused(golden_trust, at, extra):
    assert refused_within_memory(GOOD[:at] + extra + GOOD[at:], golden_trust)


HEADER, PAYLOAD = split(GOOD)
plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True) | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(sorted(HEADER)), st.data())
def test_signed_header_mutations_never_crash(golden_trust, section, data):
    header = msgpack.unpackb(msgpack.packb(HEADER))
    value = header[section]
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        value[key] = data.draw(plain)
    else:
        header[section] = data.draw(plain)
    signed = assemble(msgpack.packb(header), PAYLOAD, KEY)
    refused_within_memory(signed, golden_trust)  # either outcome, never a crash


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_signed_garbage_header_never_crashes(golden_trust, header_bytes):
    assert refused_within_memory(assemble(header_bytes, PAYLOAD, KEY), golden_trust)


# What one input may cost: one sampling block within the scheme's budget,
# plus the largest payload the format allows three times over (compressed,
# decompressed, the sampler's blocks).
GRAMMAR_PEAK = BLOCK_BYTES + 3 * 64 * 2**20 + 64 * 2**20


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.randoms(use_true_random=False, note_method_calls=False))
def test_bundles_from_the_grammar_are_read_or_refused_in_one_line(tmp_path, rng):
    """The fuzz harness's oracle on hypothesis-driven inputs (escape = failure)."""
    data = fuzz.bundle(fuzz.RandomDraw(rng))
    for stray in tmp_path.iterdir():
        stray.unlink()
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(120)  # a hang is a bug; tests never time what works
    tracemalloc.start()
    try:
        fuzz.check(data, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert peak < GRAMMAR_PEAK, f"peak {peak} bytes"


def _hang(signum, frame):
    raise TimeoutError("one input ran for 120 s")
