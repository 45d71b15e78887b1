"""End to end: a table in, a signed bundle out, rows back with numpy only."""

from __future__ import annotations

import math

import numpy as np

from provisioner import SigningKey, TrustedKey, TrustStore, decode_bundle
from provisioner.bundle.canonical import decode_header
from provisioner.bundle.layout import PREFIX, unpack_prefix
from provisioner.bundle.limits import DEFAULT_LIMITS
from provisioner.generator import Generator
from provisioner.privacy import PrivacyStatement


def _generator(bundle):
    key = SigningKey.generate("owner")
    opened = decode_bundle(bundle.to_bytes(key),
                           trust=TrustStore([TrustedKey(key.public_key, "owner", "m")]))
    return Generator.from_opened(opened)


def test_bundle_verifies_and_states_its_budget(trained, tiny_config):
    bundle, report = trained
    generator = _generator(bundle)
    privacy = PrivacyStatement.from_plain(bundle.privacy)
    assert privacy.dp and privacy.accountant == "pld"
    assert privacy.epsilon <= tiny_config.privacy.epsilon * (1 + 1e-9)
    assert privacy.epsilon >= 0.95 * tiny_config.privacy.epsilon  # the budget is used
    assert math.isclose(privacy.delta, 1e-5, rel_tol=1e-9)
    names = [m.name for m in privacy.mechanisms]
    assert names == ["row-count", "cell-classes", "metadata-stage-a", "metadata-stage-b",
                     "dependency-check", "dp-sgd"]
    sgd = privacy.mechanisms[-1].params
    assert sgd["steps"] == report.steps_taken == report.steps_planned
    assert sgd["sampler"] == "poisson"
    # every DP column is covered (the Generator checks it; make sure we have some)
    assert sum(c.metadata == "dp" for c in generator.schema.columns) == 15


def test_bundle_holds_no_exact_row_count_or_seed(trained, adult_small):
    bundle, _ = trained
    data = bundle.to_unsigned_bytes()
    # The exact row count is never released: no header value equals it (a
    # substring test would trip on noisy floats such as 12.30001). The one
    # exception is schema.rows, the Laplace release itself, which rounds to
    # the true count about 1% of the time at this budget.
    rows = len(adult_small)
    assert bundle.privacy["mechanisms"][0]["name"] == "row-count"
    schema = {k: v for k, v in bundle.schema.items() if k != "rows"}
    found = [v for v in _leaves((bundle.privacy, schema, bundle.provenance))
             if not isinstance(v, bool) and (v == rows or v == str(rows))]
    assert found == []
    # No seed or key material in the header: no name or text in it speaks of
    # one. (Its names and strings, not its raw bytes: the bytes of a float64
    # such as 65.0 + 2**-40 spell "key" now and then.)
    prefix = unpack_prefix(data)
    header = decode_header(data[PREFIX.size:PREFIX.size + prefix.header_length],
                           limits=DEFAULT_LIMITS)
    words = [w.lower() for w in _leaves(header, with_keys=True) if isinstance(w, str)]
    assert "mechanisms" in words and "dp-sgd" in words  # it is the header
    for word in ("seed", "key", "rng"):
        assert not [w for w in words if word in w and w not in ("key_id", "keys")]


def _leaves(value, with_keys: bool = False):
    """Every scalar inside nested dicts, lists and tuples (and the dicts' keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if with_keys:
                yield key
            yield from _leaves(item, with_keys)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item, with_keys)
    else:
        yield value


def test_samples_have_the_table_shape(trained, adult_small):
    generator = _generator(trained[0])
    table = generator.sample(2000, seed=4)
    frame = table.to_pandas()
    assert list(frame.columns) == list(adult_small.columns)
    assert len(frame) == 2000
    assert frame["age"].dtype.kind == "i"
    assert set(frame["sex"].dropna()) <= {"Male", "Female", "__rare__"}
    # a DP generator still learns the obvious: most people are in the US
    assert (frame["native-country"] == "United-States").mean() > 0.6


def test_conditional_sampling_is_exact_and_deterministic(trained):
    generator = _generator(trained[0])
    women = generator.sample(500, seed=9, where={"sex": "Female"})
    assert set(women["sex"]) == {"Female"}
    again = generator.sample(500, seed=9, where=["sex=Female"])
    assert all(np.array_equal(women[c], again[c]) for c in ("age", "education", "sex"))


def test_non_private_training_is_marked_and_exact(adult_small, tiny_config):
    from trainer.train import train

    config = tiny_config.replace(privacy={"enabled": False}, epochs=1, seed=3)
    bundle = train(adult_small.iloc[:500], config)
    generator = _generator(bundle)
    assert not generator.privacy.dp
    assert {c.metadata for c in generator.schema.columns} == {"exact"}


def test_max_minutes_stops_early_and_ledger_records_actual_steps(adult_small, tiny_config):
    from trainer.train import train

    reports = []
    bundle = train(adult_small, tiny_config.replace(max_minutes=1e-9), report=reports)
    assert reports[0].stopped_early and reports[0].steps_taken == 0
    sgd = PrivacyStatement.from_plain(bundle.privacy).mechanisms[-1]
    assert sgd.params["steps"] == 0
