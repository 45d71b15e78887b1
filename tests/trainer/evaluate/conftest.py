"""Tiny tables whose metrics can be worked out by hand."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn", reason="the [evaluate] extra is not installed")


def frames_of(train, holdout, synthetic, kinds):
    import pandas as pd

    from trainer.evaluate.frames import align

    return align(pd.DataFrame(train), pd.DataFrame(holdout), pd.DataFrame(synthetic), kinds)
