"""Plant privacy bugs one at a time and check that the privacy tests catch each.

    python scripts/mutate_privacy.py [--only NAME ...] [--list] [--no-baseline]

Each mutation is a textual patch of the source: a file, a text that must
occur in it exactly once, and what replaces it. The script copies the tree
(every file git tracks or would track) to a temporary folder per mutation,
applies the patch there, runs the privacy tests with ``pytest -x`` on the
copy and counts the mutation *caught* when a test fails. It prints one line
per mutation and ``caught N/M``; the exit status is 0 only when every
mutation was caught. A patch that no longer applies (the code moved) stops
the script with an error naming it: update the patch, never drop it.

The unmutated copy runs first (``--no-baseline`` skips it): a suite that
fails without any bug would "catch" everything.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# fast, targeted modules first: with -x a caught mutation stops early
PRIVACY_TESTS = (
    "tests/trainer/dp/test_clipping.py",
    "tests/trainer/dp/test_step.py",
    "tests/trainer/dp/test_aggregate.py",
    "tests/trainer/dp/test_accounting.py",
    "tests/trainer/dp/test_ledger.py",
    "tests/trainer/dp/test_sampling.py",
    "tests/trainer/test_privacy_claims.py",
    "tests/trainer/test_releases.py",
    "tests/trainer/test_neighbours.py",
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    why: str
    path: str
    old: str
    new: str


MUTATIONS = (
    Mutation("sgd-sigma-quartered",
             "DP-SGD runs at σ/4 while the ledger states σ",
             "trainer/fit.py",
             "l2_clip=plan.l2_clip, noise_multiplier=plan.noise_multiplier,",
             "l2_clip=plan.l2_clip, noise_multiplier=plan.noise_multiplier / 4,"),
    Mutation("histogram-uncounted",
             "a float's decimal-place histogram is left out of stage A's sensitivity",
             "trainer/releases/needs.py",
             "                    and d.decimals is None):\n                count += 1",
             "                    and d.decimals is None):\n                count += 0"),
    Mutation("stage-multiplier-overstated",
             "stage B's noise multiplier is overstated √6×",
             "trainer/releases/needs.py",
             "return noise.grid_sigma / math.sqrt(count) if count else None",
             "return noise.grid_sigma * math.sqrt(6 / count) if count else None"),
    Mutation("batch-from-exact-rows",
             "the batch size comes from the exact row count",
             "trainer/train.py",
             "plan = plan_privacy(config, main, rows_noisy, first=first,",
             "plan = plan_privacy(config.replace(batch_size=default_batch_size(typed.num_rows)),"
             " main, rows_noisy, first=first,"),
    Mutation("partition-delta-unsplit",
             "partition selection's δ is not split between its columns",
             "trainer/privacy_plan.py",
             "per_column = threshold_delta / needs.selections if needs.selections else 1e-12",
             "per_column = threshold_delta if needs.selections else 1e-12"),
    Mutation("padding-unclipped",
             "padded rows are not masked out of the clipped sum",
             "trainer/dp/clipping.py",
             "keep = jnp.logical_and(mask, jnp.isfinite(norms))",
             "keep = jnp.isfinite(norms)"),
    Mutation("noise-per-chunk",
             "noise is added to each chunk's sum instead of once per step",
             "trainer/dp/step.py",
             "            part = self._clip(placed[0], placed[2], placed[3], placed[4]).grad_sum\n",
             "            part = self._clip(placed[0], placed[2], placed[3], placed[4]).grad_sum\n"
             "            from trainer.dp.aggregate import add_gaussian_noise\n"
             "            part = add_gaussian_noise(part, jax.random.fold_in(noise_key, index + 1),"
             " self.noise_multiplier * self.l2_clip)\n"),
    Mutation("exact-rows-in-plan",
             "the DP-SGD plan uses the row count before it is noised",
             "trainer/train.py",
             "plan = plan_privacy(config, main, rows_noisy, first=first,",
             "plan = plan_privacy(config, main, typed.num_rows, first=first,"),
    Mutation("types-from-exact-counts",
             "column types are decided on the exact class counts",
             "trainer/intake.py",
             "table = type_table(raw, declared, first.class_counts, first.typing_sigma, first.rows)",
             "table = type_table(raw, declared, exact_first_phase(raw, needs).class_counts,\n"
             "                       first.typing_sigma, first.rows)"),
    Mutation("null-fallback-on-exact-nulls",
             "the null fallback is set only when the column has nulls (exact branch)",
             "trainer/derive.py",
             "            if not nullable:\n                # any null cell becomes",
             "            if not nullable and column.null.any():\n                # any null cell"
             " becomes"),
    Mutation("typing-sensitivity-understated",
             "the typing release claims sensitivity 1 whatever its columns",
             "trainer/column_types.py",
             "        return math.sqrt(len(self.classes))",
             "        return 1.0"),
    Mutation("row-count-noise-halved",
             "the row count draws Laplace noise at half the ledger's scale",
             "trainer/releases/row_count.py",
             "value = max(0, int(round(rows + source.laplace(scale))))",
             "value = max(0, int(round(rows + source.laplace(scale / 2))))"),
    Mutation("stage-a-noise-quartered",
             "stage A draws a quarter of the ledger's σ for null counts",
             "trainer/releases/stage_a.py",
             "            _null_cells(column, noise.vocab_sigma, stream, out)",
             "            _null_cells(column, noise.vocab_sigma / 4, stream, out)"),
    Mutation("declared-counts-noise-quartered",
             "stage A draws a quarter of the ledger's σ for a declared list's counts",
             "trainer/releases/stage_a.py",
             "values, d.categories, noise.vocab_sigma, stream)",
             "values, d.categories, noise.vocab_sigma / 4, stream)"),
    Mutation("stage-b-noise-quartered",
             "stage B draws a quarter of the ledger's σ",
             "trainer/releases/stage_b.py",
             "return noisy_histogram(cells, len(edges) - 1, noise.grid_sigma, stream)",
             "return noisy_histogram(cells, len(edges) - 1, noise.grid_sigma / 4, stream)"),
    Mutation("text-shape-uncounted",
             "a text column's shape histogram is left out of stage A's sensitivity",
             "trainer/releases/needs.py",
             "return len(self.vocab) - len(self.coarse_atoms) + len(self.shapes)",
             "return len(self.vocab) - len(self.coarse_atoms)"),
    Mutation("text-shape-selection-free",
             "a text column's shape selection takes no share of partition selection's δ",
             "trainer/releases/needs.py",
             "return len(self.partition) + len(self.shapes)",
             "return len(self.partition)"),
    Mutation("typing-noise-quartered",
             "the typing release draws a quarter of the ledger's σ",
             "trainer/releases/cell_classes.py",
             'source.stream("cell-classes", name).gaussian(sigma, len(counts))',
             'source.stream("cell-classes", name).gaussian(sigma / 4, len(counts))'),
    Mutation("dependency-check-unplanned",
             "DP-SGD is calibrated without the dependency check's event",
             "trainer/privacy_plan.py",
             "for z in (self.stage_a_multiplier, self.stage_b_multiplier,\n"
             "                               self.dependency_multiplier)",
             "for z in (self.stage_a_multiplier, self.stage_b_multiplier)"),
    Mutation("dependency-sensitivity-halved",
             "the dependency check counts one query per pair, not two (histogram and count)",
             "trainer/releases/dependency_check.py",
             "sensitivity = math.sqrt(2 * planned)",
             "sensitivity = math.sqrt(planned)"),
    Mutation("dependency-count-noise-quartered",
             "the count of rows breaking a mapping draws a quarter of the ledger's σ",
             "trainer/releases/dependency_check.py",
             "counts.append(broken + float(stream.gaussian(sigma, 1)[0]))",
             "counts.append(broken + float(stream.gaussian(sigma / 4, 1)[0]))"),
    Mutation("dependency-histogram-noise-quartered",
             "the joint histogram of a candidate pair draws a quarter of the ledger's σ",
             "trainer/releases/dependency_check.py",
             "ks * kd,\n                                sigma, stream)",
             "ks * kd,\n                                sigma / 4, stream)"),
)


class PatchError(RuntimeError):
    pass


def copy_tree(dest: Path) -> None:
    """Every file git tracks, or would track, into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    text = path.read_text(encoding="utf-8")
    found = text.count(mutation.old)
    if found != 1:
        raise PatchError(f"mutation {mutation.name!r} no longer applies: its text occurs "
                         f"{found} times in {mutation.path} (expected once); update it")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


def run_tests(tree: Path) -> tuple[bool, str, float]:
    """(passed, first failing test or '', seconds) of the privacy tests on ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    check = subprocess.run([sys.executable, "-c", "import trainer; print(trainer.__file__)"],
                           cwd=tree, env=env, capture_output=True, text=True)
    if not check.stdout.strip().startswith(str(tree)):
        raise RuntimeError(f"the copy's trainer is not the one imported: {check.stdout!r}")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         *PRIVACY_TESTS], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, flags=re.M)
    if result.returncode not in (0, 1):
        failed = failed or [f"pytest exit {result.returncode}"]
    return result.returncode == 0, failed[0] if failed else "", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run on the unmutated tree")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        unknown = sorted(set(args.only) - {m.name for m in MUTATIONS})
        parser.error(f"unknown mutation(s) {unknown}")
    if args.list:
        for m in chosen:
            print(f"{m.name:32s} {m.why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="hzg-mutants-") as scratch:
        pristine = Path(scratch) / "pristine"
        copy_tree(pristine)
        for m in chosen:  # every patch must apply before anything runs
            probe = Path(scratch) / "probe"
            shutil.rmtree(probe, ignore_errors=True)
            shutil.copytree(pristine / Path(m.path).parent, probe / Path(m.path).parent)
            try:
                apply(m, probe)
            except PatchError as exc:
                print(f"mutate_privacy: error: {exc}", file=sys.stderr)
                return 2
        if not args.no_baseline:
            passed, failed, seconds = run_tests(pristine)
            print(f"{'(no mutation)':32s} {'pass' if passed else 'FAIL'}  {seconds:6.1f} s"
                  + (f"  {failed}" if failed else ""), flush=True)
            if not passed:
                print("mutate_privacy: error: the privacy tests fail without any mutation",
                      file=sys.stderr)
                return 2
        caught = 0
        for m in chosen:
            tree = Path(scratch) / m.name
            shutil.copytree(pristine, tree)
            apply(m, tree)
            passed, failed, seconds = run_tests(tree)
            caught += not passed
            verdict = "caught" if not passed else "MISSED"
            print(f"{m.name:32s} {verdict}  {seconds:6.1f} s  {failed or m.why}", flush=True)
            shutil.rmtree(tree, ignore_errors=True)
    print(f"caught {caught}/{len(chosen)}")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
