"""A small real table and one generator trained on it, shared by the tests."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "adult.csv.gz"


@pytest.fixture(scope="session")
def adult_small():
    import pandas as pd

    frame = pd.read_csv(EXAMPLE, keep_default_na=False, na_values=[""])
    return frame.iloc[:3000].reset_index(drop=True)


@pytest.fixture(scope="session")
def tiny_config():
    from trainer.config import PrivacyConfig, TrainConfig

    return TrainConfig(privacy=PrivacyConfig(epsilon=2.0, delta=1e-5), epochs=3,
                       hidden=(16, 16), fine_cells=40)


@pytest.fixture(scope="session")
def trained(adult_small, tiny_config):
    """(bundle, report) of one DP training run on 3,000 adult rows."""
    from trainer.train import train

    reports = []
    bundle = train(adult_small, tiny_config, report=reports)
    return bundle, reports[0]
