"""Neighbouring tables: D and D' = D + one row must be treated alike.

For every case in which one added row used to change how the trainer saw
the whole table (an ``age`` of 39.5 in an integer column, ``maybe`` in a
true/false column, a duplicated id, ``040`` in a numeric column, one
``12/25/2020`` among day-first dates, a null in a column without nulls), and
for one unusual row per supported kind, the whole trainer runs on D and on
D' with the same metadata noise (``seeded_noise_for_tests``; DP-SGD's noise
stays OS-drawn: the weights are never compared) and must produce:

- the same schema: kinds, value types, formats, units, nullability, category
  lists, decimals, id styles and origins (``public``/``dp``);
- the same mechanisms, each with the same parameters and noise scales.
  DP-SGD's sampling rate, steps and noise multiplier are functions of the
  *released* row count only; the test recomputes them from it;
- the same parsed value for every row of D.

Grids (bin edges) are post-processing of noisy histograms whose counts differ
by one between D and D': they are not compared. With aligned noise every
decision compared here sits far from its threshold; the false-failure rate
is that of one noisy count landing within 1 of a threshold, below 1e-4 for
these seeds' margins.
"""

from __future__ import annotations

import numpy as np
import pytest

from provisioner.privacy import PrivacyStatement
from provisioner.schema import Schema
from trainer.config import PrivacyConfig, TrainConfig
from trainer.releases.noise import seeded_noise_for_tests
from trainer.train import prepare_run, train

N = 1000
SEED = 11
# a generous typing share: 1,000 rows are few for deciding 10 types under DP
CONFIG = TrainConfig(privacy=PrivacyConfig(epsilon=8.0, delta=1e-6, typing_share=0.1),
                     epochs=1, hidden=(8,), fine_cells=40, max_minutes=1e-9,
                     calibrate_marginals=False)
# DP-SGD parameters that follow from the released row count (q = B / n̂, ...)
ROW_COUNT_PARAMS = ("sampling_probability", "noise_multiplier", "steps", "planned_steps",
                    "expected_batch_size")


def text_table(rng: np.random.Generator) -> dict[str, list[str]]:
    days = np.datetime64("2019-01-01") + rng.integers(0, 1000, N)
    stamps = np.datetime64("2020-01-01T00:00:00") + rng.integers(0, 10**7, N)
    return {
        "age": [str(v) for v in rng.integers(18, 91, N)],
        "flag": [("true", "false")[int(v)] for v in rng.integers(0, 2, N)],
        "cust": [f"C-{i:05d}" for i in range(N)],
        "visits": [str(v) for v in rng.integers(0, 400, N)],
        "day": [d.item().strftime("%d/%m/%Y") for d in days],
        "score": [f"{v:.2f}" for v in rng.gamma(2.0, 10.0, N)],
        "city": [str(v) for v in rng.choice(["Paris", "Lyon", "Nice", "Lille"], N)],
        "spend": ["" if u < 0.2 else f"{v:.1f}" for u, v in zip(rng.random(N),
                                                                 rng.gamma(2, 30, N))],
        "joined": [str(d) for d in days],
        "seen": [f"{s.item().isoformat()}+01:00" for s in stamps],
    }


# (column, the added row's cell there): the other cells of the added row copy
# row 0's, except the id, which is new unless the case is the duplicated id
TEXT_CASES = [
    ("age", "39.5"),             # a decimal in an integer column
    ("flag", "maybe"),           # a word in a true/false column
    ("cust", "C-00007"),         # a duplicated id
    ("visits", "040"),           # a leading zero in a numeric column
    ("day", "12/25/2020"),       # month-first among day-first dates
    ("score", ""),               # a null in a column without nulls
    ("city", "Atlantis"),        # categorical: a value nobody else holds
    ("spend", "1e9"),            # float: an extreme value
    ("joined", "1800-01-01"),    # datetime: a far date
    ("seen", "not a time"),      # datetime with offsets: text that does not parse
    ("city", ""),                # a null in a categorical column without nulls
]


def write_csv(path, columns: dict[str, list[str]]) -> None:
    names = list(columns)
    lines = [",".join(names)] + [",".join(columns[n][i] for n in names)
                                 for i in range(len(columns[names[0]]))]
    path.write_text("\n".join(lines) + "\n")


def plus_one_row(columns: dict[str, list[str]], column: str, cell: str) -> dict[str, list[str]]:
    row = {name: values[0] for name, values in columns.items()}
    row["cust"] = f"C-{N + 1:05d}"
    row[column] = cell
    return {name: values + [row[name]] for name, values in columns.items()}


def schema_facts(schema: Schema) -> list[tuple]:
    # category *sets*: their order follows the noisy counts (post-processing),
    # and two counts within one row of each other may swap between D and D'
    return [(c.name, c.kind, c.value_type, c.nullable, c.metadata,
             tuple(sorted(map(repr, c.categories))),
             c.rare_label, c.decimals if c.kind == "numeric" else None, c.unit, c.format,
             c.style, c.pattern, c.filler) for c in schema.columns]


def mechanism_facts(privacy: PrivacyStatement) -> list[tuple]:
    out = []
    for m in privacy.mechanisms:
        params = {k: v for k, v in m.params.items()
                  if not (m.name == "dp-sgd" and k in ROW_COUNT_PARAMS)}
        out.append((m.name, m.phase, m.kind, tuple(m.columns), sorted(params.items())))
    return out


def sgd_follows_the_released_count(privacy: PrivacyStatement, schema: Schema) -> None:
    """DP-SGD's count-dependent parameters are what the plan makes of the
    released row count and the budget the other mechanisms left."""
    import dp_accounting

    from trainer.config import default_batch_size
    from trainer.dp.plan import make_plan
    from trainer.intake import MIN_ROWS

    first, main = privacy.phases
    others = [m for m in privacy.mechanisms if m.phase == "main" and m.name != "dp-sgd"]
    extra = sum(m.params.get("extra_delta", 0.0) for m in others)
    rows = max(schema.rows, MIN_ROWS)
    plan = make_plan(rows, min(default_batch_size(rows), rows), l2_clip=CONFIG.clip_norm,
                     epochs=CONFIG.epochs, target_epsilon=CONFIG.privacy.epsilon - first.epsilon,
                     delta=main.delta - extra,
                     extra_events=[dp_accounting.GaussianDpEvent(m.params["noise_multiplier"])
                                   for m in others])
    sgd = privacy.mechanisms[-1].params
    assert sgd["sampling_probability"] == plan.sampling_prob
    assert sgd["noise_multiplier"] == pytest.approx(plan.noise_multiplier, rel=1e-9)
    assert sgd["planned_steps"] == plan.steps


def run(path, declarations=None):
    with seeded_noise_for_tests(SEED):
        bundle = train(path, CONFIG, declarations=declarations)
    with seeded_noise_for_tests(SEED):
        prepared = prepare_run(path, CONFIG, declarations=declarations)
    schema = Schema.from_plain(bundle.schema)
    privacy = PrivacyStatement.from_plain(bundle.privacy)
    return schema, privacy, prepared


@pytest.fixture(scope="module", autouse=True)
def compile_once(tmp_path_factory):
    """D and D' give models of the same shapes: compile each shape once."""
    import jax

    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    saved = {k: getattr(jax.config, k) for k in keys}
    jax.config.update(keys[0], str(tmp_path_factory.mktemp("xla")))
    jax.config.update(keys[1], 0.0)
    jax.config.update(keys[2], 0)
    yield
    for k, v in saved.items():
        jax.config.update(k, v)


@pytest.fixture(scope="module")
def text_base(tmp_path_factory):
    columns = text_table(np.random.default_rng(0))
    path = tmp_path_factory.mktemp("neighbours") / "d.csv"
    write_csv(path, columns)
    return columns, run(path)


def test_the_base_table_is_typed_as_its_kinds(text_base):
    _, (schema, _, _) = text_base
    kinds = {c.name: (c.kind, c.value_type, c.format) for c in schema.columns}
    assert kinds == {
        "age": ("numeric", "integer", None), "flag": ("categorical", "boolean", None),
        "cust": ("id", "string", None), "visits": ("numeric", "integer", None),
        "day": ("datetime", "datetime", "%d/%m/%Y"), "score": ("numeric", "float", None),
        "city": ("categorical", "string", None), "spend": ("numeric", "float", None),
        "joined": ("datetime", "datetime", "%Y-%m-%d"),
        "seen": ("datetime", "datetime", "%Y-%m-%dT%H:%M:%S%z"),
    }


@pytest.mark.parametrize("column, cell", TEXT_CASES, ids=[c for c, _ in TEXT_CASES])
def test_one_added_row_changes_nothing_but_noise(text_base, tmp_path, column, cell):
    columns, (schema, privacy, prepared) = text_base
    path = tmp_path / "d_plus_one.csv"
    write_csv(path, plus_one_row(columns, column, cell))
    schema2, privacy2, prepared2 = run(path)
    typed, typed2 = prepared.typed, prepared2.typed
    assert schema_facts(schema2) == schema_facts(schema)
    assert mechanism_facts(privacy2) == mechanism_facts(privacy)
    assert privacy2.phases[0] == privacy.phases[0]  # the first phase spends the same
    # which columns encode a null as a released value is decided from the
    # declared or released nullability, never from whether nulls occur
    assert sorted(prepared2.derived.null_fallback) == sorted(prepared.derived.null_fallback)
    for p, sch in ((privacy, schema), (privacy2, schema2)):
        sgd_follows_the_released_count(p, sch)
    for before, after in zip(typed.columns, typed2.columns):
        assert (after.kind, after.value_type, after.unit) == (before.kind, before.value_type,
                                                                before.unit)
        assert np.array_equal(after.null[:N], before.null)
        assert np.array_equal(after.unparsed[:N], before.unparsed)
        values, values2 = before.values, after.values[:N]
        assert values.tolist() == values2.tolist() if values.dtype == object else \
            np.array_equal(values, values2, equal_nan=True)


# A declared text column (free text: frequent values, fillers for the rest).
# Its fillers' shape is a partition selection over the values not released:
# a title held by one row, or a new shape, must change nothing.
TEXT_KIND = {"columns": {"title": {"kind": "text"}}}
TITLE_CASES = [
    ("a title nobody else has", "The Lonely Zebra 77"),
    ("a new shape", "!!! ~~~ ???"),
    ("a frequent title", "Heat"),
    ("a null", ""),
]


def title_table(rng: np.random.Generator) -> dict[str, list[str]]:
    u = rng.random(N)
    return {
        "age": [str(v) for v in rng.integers(18, 91, N)],
        "cust": [f"C-{i:05d}" for i in range(N)],
        "title": ["Heat" if x < 0.3 else "Up" if x < 0.5 else f"night {i} of winter"
                  for i, x in enumerate(u)],
    }


@pytest.fixture(scope="module")
def title_base(tmp_path_factory):
    from trainer.declarations import Declarations

    columns = title_table(np.random.default_rng(1))
    path = tmp_path_factory.mktemp("titles") / "d.csv"
    write_csv(path, columns)
    declared = Declarations.from_plain(TEXT_KIND)
    return columns, declared, run(path, declared)


@pytest.mark.parametrize("case, cell", TITLE_CASES, ids=[c for c, _ in TITLE_CASES])
def test_one_added_row_changes_nothing_in_a_text_column(title_base, tmp_path, case, cell):
    columns, declared, (schema, privacy, prepared) = title_base
    title = schema.column("title")
    assert title.filler == "aaaaa 999 aa aaaaaa" and set(title.categories) == {"Heat", "Up"}
    path = tmp_path / "d_plus_one.csv"
    write_csv(path, plus_one_row(columns, "title", cell))
    schema2, privacy2, prepared2 = run(path, declared)
    assert schema_facts(schema2) == schema_facts(schema)
    assert mechanism_facts(privacy2) == mechanism_facts(privacy)
    for p, sch in ((privacy, schema), (privacy2, schema2)):
        sgd_follows_the_released_count(p, sch)
    before, after = prepared.typed.column("title"), prepared2.typed.column("title")
    assert before.values.tolist() == after.values[:N].tolist()


# Typing may decide text: values held by one row each and written as prose
# are clearly most of the cells (noisy counts of the typing release's
# prose-first class). One added row must not flip it, nor what it releases.
PROSE_CASES = [
    ("another unique remark", "a remark nobody else made"),
    ("a short word", "ok"),
    ("a repeat of a frequent value", "Heat"),
    ("a number", "12345"),
]


@pytest.fixture(scope="module")
def prose_base(tmp_path_factory):
    rng = np.random.default_rng(2)
    u = rng.random(N)
    columns = {
        "age": [str(v) for v in rng.integers(18, 91, N)],
        "cust": [f"C-{i:05d}" for i in range(N)],
        "remark": ["Heat" if x < 0.2 else f"seen {i} times by the crew" for i, x in enumerate(u)],
    }
    path = tmp_path_factory.mktemp("prose") / "d.csv"
    write_csv(path, columns)
    return columns, run(path)


@pytest.mark.parametrize("case, cell", PROSE_CASES, ids=[c for c, _ in PROSE_CASES])
def test_one_added_row_does_not_change_a_column_typed_as_text(prose_base, tmp_path, case,
                                                              cell):
    columns, (schema, privacy, prepared) = prose_base
    remark = schema.column("remark")
    assert prepared.typed.column("remark").kind == "text" and remark.filler is not None
    assert remark.metadata == "dp" and "Heat" in remark.categories
    path = tmp_path / "d_plus_one.csv"
    write_csv(path, plus_one_row(columns, "remark", cell))
    schema2, privacy2, prepared2 = run(path)
    assert schema_facts(schema2) == schema_facts(schema)
    assert mechanism_facts(privacy2) == mechanism_facts(privacy)
    assert prepared2.typed.column("remark").kind == "text"
    before, after = prepared.typed.column("remark"), prepared2.typed.column("remark")
    assert before.values.tolist() == after.values[:N].tolist()
