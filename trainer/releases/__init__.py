"""The accounted releases of the front end: what the trainer learns about the
table outside the weights, and how much privacy each costs.

1. **Row count** (``row_count``, its own phase): Laplace noise on the number
   of rows.
2. **Stage A** (``stage_a``), one Gaussian release: value counts with
   partition selection, null counts, magnitude, decimal-place and year
   histograms, identifier shapes.
3. **Stage B** (``stage_b``), one Gaussian release: a fine histogram per
   numeric and datetime column on a grid fixed by stage A or declarations.
4. **Dependency check** (``dependency_check``), after DP-SGD, one Gaussian
   release: per candidate pair of columns a joint histogram and a count of
   the rows that break its mapping.

How many histograms each release holds is fixed by column kinds and
declarations (``needs``), its noise scales by the budget split (``noise``),
and each is recorded for the ledger as a :class:`Release` (``record``).
Turning releases into the bundle's column schema is ``trainer.derive``;
binning the stage-B counts is ``trainer.binning``.

Randomness comes from the OS (``os.urandom``) and is never stored.
"""

from trainer.releases.needs import MetadataOptions, Needs, plan_needs
from trainer.releases.noise import MetadataNoise, NoiseSource, noisy_histogram, normal_quantile
from trainer.releases.record import Release
from trainer.releases.row_count import noisy_row_count
from trainer.releases.stage_a import StageA, id_shape, partition_select, run_stage_a
from trainer.releases.stage_b import run_stage_b

__all__ = (
    "MetadataNoise",
    "MetadataOptions",
    "Needs",
    "NoiseSource",
    "Release",
    "StageA",
    "id_shape",
    "noisy_histogram",
    "noisy_row_count",
    "normal_quantile",
    "partition_select",
    "plan_needs",
    "run_stage_a",
    "run_stage_b",
)
