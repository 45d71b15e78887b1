"""scripts/bench_zoo.py: its coded TVDs agree with trainer.evaluate's, the
independent baseline scores 2-way TVD it should, and a missing zoo folder is
one clear line. The zoo itself is not needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import bench_zoo  # noqa: E402
from trainer.evaluate import fidelity  # noqa: E402


def _frame(rows: int, seed: int) -> "pd.DataFrame":
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, rows)
    return pd.DataFrame({
        "x": x,
        "y": np.where(rng.random(rows) < 0.1, np.nan, 2 * x + rng.normal(0, 0.5, rows)),
        "c": np.where(x > 0, "pos", "neg").astype(object),
    })


def test_coded_tvds_match_the_evaluator():
    real, synth = _frame(3000, 1), _frame(2000, 2)
    kinds = {"x": "num", "y": "num", "c": "cat"}
    coder = bench_zoo.Coder(real, kinds)
    one, two = bench_zoo.tvds(coder.codes(real), coder.codes(synth), coder)
    codes = fidelity.joint_codes(real, synth, fidelity.bin_edges(real, ["x", "y"]))
    ref_one, ref_two = fidelity.column_tvds(codes), fidelity.pair_tvds(codes)
    for name in kinds:
        assert one[name] == pytest.approx(ref_one[name], abs=1e-12)
    for pair, value in ref_two.items():
        assert two[pair] == pytest.approx(value, abs=1e-12)


def test_categories_beyond_the_top_values_share_one_bin():
    values = [f"v{i}" for i in range(bench_zoo.TOP_VALUES + 30)]
    real = pd.DataFrame({"c": pd.Series(values * 3 + ["v0"] * 50, dtype=object)})
    coder = bench_zoo.Coder(real, {"c": "cat"})
    assert coder.size("c") == bench_zoo.TOP_VALUES + 2  # top values, other, null
    codes = coder.code_column("c", pd.Series(["v0", "never seen", None], dtype=object))
    assert codes.tolist() == [0, bench_zoo.TOP_VALUES, bench_zoo.TOP_VALUES + 1]


def test_independent_columns_keep_marginals_and_lose_pairs():
    real = _frame(5000, 3)
    kinds = {"x": "num", "y": "num", "c": "cat"}
    coder = bench_zoo.Coder(real, kinds)
    one, two = bench_zoo.tvds(coder.codes(real),
                              coder.codes(bench_zoo.independent_columns(real, 5000)), coder)
    assert max(one.values()) < 0.05  # sampling noise only (fails with p < 1e-6)
    assert two[("x", "c")] > 0.3  # x decides c exactly in the real data


def test_missing_zoo_folder_is_one_clear_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_zoo.py"), "--zoo",
                           str(tmp_path / "absent")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not found" in lines[0] and "--zoo" in lines[0]
