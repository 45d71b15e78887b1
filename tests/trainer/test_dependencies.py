"""Undeclared functional dependencies: proposed from the model, checked under DP."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.dependencies import dependency_candidates


def _sampled(rows: int = 20_000) -> tuple[np.ndarray, tuple[int, ...]]:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 10, rows)
    follows = (source * 7) % 6  # a function of column 0, six values
    independent = rng.integers(0, 3, rows)
    skewed = (rng.random(rows) < 0.005).astype(np.int64)  # one token in 99.5% of rows
    many = rng.integers(0, 500, rows)  # 500 values: predicts anything in-sample
    coin = rng.integers(0, 2, rows)
    # a skewed column that follows column 0 is still not a dependent
    skewed_follows = (source == 9) & (rng.random(rows) < 0.05)
    tokens = np.stack([source, follows, independent, skewed, many, coin,
                       skewed_follows.astype(np.int64)], axis=1)
    return tokens, (10, 6, 3, 2, 500, 2, 2)


def test_candidates_are_the_pairs_the_source_predicts():
    tokens, counts = _sampled()
    found = dependency_candidates(tokens, counts, exclude=(), most=8)
    assert found[0] == (0, 1)
    dependents = [d for _, d in found]
    assert 2 not in dependents  # independent of everything
    assert 3 not in dependents and 6 not in dependents  # skews, not dependencies
    assert 5 not in dependents  # 500 values predict a coin only by overfitting


def test_candidates_respect_exclusions_and_the_limit():
    tokens, counts = _sampled()
    assert dependency_candidates(tokens, counts, exclude={1}, most=8) == []
    assert dependency_candidates(tokens, counts, exclude=(), most=0) == []
    # one per dependent, sources always before it (the direct layer's mask)
    doubled = np.concatenate([tokens, tokens[:, :2]], axis=1)
    found = dependency_candidates(doubled, counts + (10, 6), exclude=(), most=8)
    assert all(s < d for s, d in found)
    assert len({d for _, d in found}) == len(found)


@pytest.mark.slow
def test_an_undeclared_dependency_is_found_and_holds_in_synthetic_rows():
    import pandas as pd

    import provisioner
    from provisioner.bundle import decode_bundle
    from provisioner.keys import SigningKey, TrustedKey, TrustStore
    from trainer.config import PrivacyConfig, TrainConfig
    from trainer.releases.noise import seeded_noise_for_tests
    from trainer.train import TrainReport, train

    rng = np.random.default_rng(7)
    levels = {"HS": 9, "Some-college": 10, "Bachelors": 13, "Masters": 14, "Doctorate": 16}
    names = list(levels)
    education = rng.choice(names, 6000, p=[0.3, 0.25, 0.2, 0.13, 0.12])
    frame = pd.DataFrame({"age": rng.integers(18, 80, 6000), "education": education,
                          "education-num": [levels[e] for e in education]})
    config = TrainConfig(privacy=PrivacyConfig(epsilon=3.0, delta=1e-5), epochs=5)
    reports: list[TrainReport] = []
    # metadata noise (and the check's) from a fixed seed; DP-SGD's from the OS:
    # the model must propose the pair, which it does once it learns a little
    # of it (lift 0.25 over the most common value)
    with seeded_noise_for_tests(7):
        bundle = train(frame, config, report=reports)
    assert any("'education-num' follows 'education'" in n for n in reports[0].notices)
    key = SigningKey.generate("t")
    opened = decode_bundle(bundle.to_bytes(key),
                           trust=TrustStore([TrustedKey(key.public_key, "t", "m")]))
    rows = provisioner.Generator.from_opened(opened).sample(20000, seed=3).to_pandas()
    released = rows["education"].isin(names)
    held = rows["education"].map(levels) == rows["education-num"]
    assert released.mean() > 0.99 and held[released].all()
