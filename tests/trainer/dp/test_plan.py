"""The DP execution plan: one object binds batch selection, clip, noise and the
neighbouring relation; every broken variant is the plan with one field replaced."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from provisioner.errors import ConfigError
from trainer.dp.plan import DPExecutionPlan, PoissonBatches, ShuffledBatches, make_plan


@pytest.fixture(scope="module")
def plan() -> DPExecutionPlan:
    return make_plan(2000, 100, l2_clip=1.0, epochs=2, target_epsilon=1.0, delta=1e-6)


def test_the_plan_writes_the_dpsgd_parameters_once(plan):
    plain = plan.to_plain(steps_taken=7)
    assert plain == {
        "sampler": "poisson",
        "sampling_probability": 0.05,
        "overflow": "split into extra chunks, never dropped",
        "noise_multiplier": plan.noise_multiplier,
        "clip_norm": 1.0,
        "steps": 7,
        "planned_steps": 40,
        "expected_batch_size": 100.0,
        "clipping": "per example, whole gradient",
        "normalizer": "expected batch size",
    }


def test_noise_divided_by_ten_states_its_own_cost(plan):
    weak = dataclasses.replace(plan, noise_multiplier=plan.noise_multiplier / 10)
    assert weak.epsilon(1e-6) > 10 * plan.epsilon(1e-6)
    assert weak.noise_stddev == pytest.approx(plan.noise_stddev / 10)


def test_variants_without_a_guarantee_have_no_event(plan):
    with pytest.raises(ConfigError, match="unbounded sensitivity"):
        dataclasses.replace(plan, clip=False).dp_event
    shuffled = dataclasses.replace(plan, batch_selection=ShuffledBatches(2000, 100, seed=0))
    with pytest.raises(ConfigError, match="shuffled"):
        shuffled.dp_event
    # ...but both still run: the step reads C, σ and the normaliser
    assert shuffled.expected_batch_size == 100.0 and shuffled.capacity == 100
    with pytest.raises(ConfigError, match="only 'add_or_remove_one'"):
        dataclasses.replace(plan, neighboring_relation="replace_one")


def test_poisson_batches_draw_from_the_rows_that_exist(plan):
    # q and the normaliser come from the (noisy) count in the plan; the
    # sampler covers every row of the data it is given
    stream = plan.batch_selection.batches(2100, np.random.default_rng(0))
    drawn = np.concatenate([np.concatenate([c.indices[c.mask] for c in next(stream)])
                            for _ in range(400)])
    assert drawn.max() >= 2050
    counts = np.bincount(drawn, minlength=2100)
    assert abs(counts.mean() - 400 * 0.05) < 0.5  # inclusion rate q per step


def test_shuffled_batches_are_fixed_size_and_each_row_once_per_epoch():
    selection = ShuffledBatches(1000, 64, seed=3)
    stream = selection.batches(1000)
    epoch = [next(stream) for _ in range(1000 // 64)]
    rows = np.concatenate([c[0].indices[c[0].mask] for c in epoch])
    assert {int(c[0].mask.sum()) for c in epoch} == {64}
    assert len(rows) == len(set(rows.tolist())) == 15 * 64
    again = [next(ShuffledBatches(1000, 64, seed=3).batches(1000)) for _ in range(1)]
    assert np.array_equal(again[0][0].indices, epoch[0][0].indices)  # the seed fixes it


def test_batch_selection_is_validated():
    with pytest.raises(ConfigError):
        PoissonBatches(100, 0.0, capacity=10)
    with pytest.raises(ConfigError):
        ShuffledBatches(10, 20)
