"""Benchmark the DP-SGD step against our non-private step and Opacus.

Reference model: an MLP 120 -> 256 -> 256 -> 120 (ReLU), softmax
cross-entropy per example, Adam. For each batch size (default 256 and 1024)
it times, side by side in one run:

* JAX, no DP (``trainer.dp.step.PlainStep``);
* our DP step, fast path, single-pass "book-keeping" clipping (the default);
* our DP step, fast path, two-pass ghost clipping;
* our DP step, ``vmap(grad)`` reference path (materialises per-example grads);
* when torch and opacus are installed (benchmark only, never a dependency):
  PyTorch no DP, Opacus default (per-sample hooks), Opacus ghost clipping.

One compute thread everywhere (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``, ``torch.set_num_threads(1)``). Times: for
each batch size one subprocess builds the light variants, compiles and warms
them up, then runs ``--light-steps`` rounds in which each variant takes one step in
turn (round-robin, rotating the order), and reports per-variant medians;
interleaving keeps the ratios honest on a shared, noisy machine. The two
gradient-materialising variants (vmap, Opacus hooks) are timed alone, so
their gigabyte-sized allocations do not slow the step after them. Memory:
each variant then runs alone in a fresh subprocess (compile + a few steps)
and reports its peak RSS (``ru_maxrss``), its compile time (JAX AOT
``lower().compile()``; for Opacus the ``make_private`` set-up) and, for
JAX, XLA's temporary buffer size for the compiled step
(``memory_analysis().temp_size_in_bytes``), the step's own
working memory. DP steps draw a fresh OS-random key each step (included in
the time), σ = 1, C = 1; all variants use the same physical batch (every row
real), so the ratios compare step cost alone (a real Poisson run pads to
about B + 5·sqrt(B)).

Usage::

    python scripts/bench_dpsgd.py                 # full table (a few minutes)
    python scripts/bench_dpsgd.py --steps 30 --batch-sizes 256 1024 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (("h1", 120, 256), ("h2", 256, 256), ("out", 256, 120))
N_IN, N_OUT = 120, 120
SIGMA, CLIP, LR = 1.0, 1.0, 1e-3

JAX_VARIANTS = ("jax_plain", "jax_dp_bookkeeping", "jax_dp_ghost", "jax_dp_vmap")
TORCH_VARIANTS = ("torch_plain", "opacus_hooks", "opacus_ghost")
HEAVY = ("jax_dp_vmap", "opacus_hooks")  # materialise per-example gradients
LABELS = {
    "jax_plain": "JAX, no DP",
    "jax_dp_bookkeeping": "HZG DP, fast path (book-keeping, 1 pass)",
    "jax_dp_ghost": "HZG DP, fast path (ghost, 2 passes)",
    "jax_dp_vmap": "HZG DP, vmap(grad) reference path",
    "torch_plain": "PyTorch, no DP",
    "opacus_hooks": "Opacus default (per-sample hooks)",
    "opacus_ghost": "Opacus ghost clipping",
}
SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
}


def _max_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _data(batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, size=batch).astype(np.int32)
    return x, y


# --- JAX ----------------------------------------------------------------------


def _jax_model():
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(1)
    params = {
        name: {
            "w": jnp.asarray(rng.normal(0, 1 / np.sqrt(i), (i, o)), jnp.float32),
            "b": jnp.zeros((o,), jnp.float32),
        }
        for name, i, o in SIZES
    }

    def forward(p, x, taps=None):
        h, acts = x, {}
        for k, (name, _, _) in enumerate(SIZES):
            acts[name] = h
            z = h @ p[name]["w"] + p[name]["b"]
            if taps is not None:
                z = z + taps[name]
            h = jax.nn.relu(z) if k < len(SIZES) - 1 else z
        return h, acts

    def per_example_ce(logits, y):
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]

    def loss_with_taps(p, batch, taps):
        logits, acts = forward(p, batch["x"], taps)
        return per_example_ce(logits, batch["y"]), acts

    def example_loss(p, example, rng):
        del rng
        logits, _ = forward(p, example["x"][None])
        return per_example_ce(logits, example["y"][None])[0]

    def batch_loss(p, batch, mask, key):
        del key
        logits, _ = forward(p, batch["x"])
        losses = per_example_ce(logits, batch["y"])
        w = mask.astype(jnp.float32)
        return jnp.sum(losses * w) / jnp.maximum(jnp.sum(w), 1.0)

    return params, loss_with_taps, example_loss, batch_loss


def build_jax(variant: str, batch: int):
    """Return (call, compile_s, xla_temp_mb, check) for one JAX variant."""
    import jax
    import numpy as np
    import optax

    from trainer.dp.aggregate import os_random_key
    from trainer.dp.clipping import vmap_clipper
    from trainer.dp.dense import dense_clipper
    from trainer.dp.step import DpSgdStep, PlainStep

    params, loss_with_taps, example_loss, batch_loss = _jax_model()
    x, y = _data(batch)
    data = {"x": x, "y": y}
    mask = np.ones(batch, dtype=bool)
    if variant == "jax_plain":
        step = PlainStep(batch_loss, optax.adam(LR))

        def one(p, s):
            return step(p, s, data, mask, os_random_key())
    else:
        clipper = {
            "jax_dp_bookkeeping": lambda: dense_clipper(loss_with_taps, None),
            "jax_dp_ghost": lambda: dense_clipper(loss_with_taps, None, method="ghost"),
            "jax_dp_vmap": lambda: vmap_clipper(example_loss),
        }[variant]()
        step = DpSgdStep(
            clipper,
            optax.adam(LR),
            l2_clip=CLIP,
            noise_multiplier=SIGMA,
            expected_batch_size=float(batch),
        )

        def one(p, s):
            return step(p, s, [(data, mask)], os_random_key())

    opt_state = step.init(params)
    compile_s = step.compile(params, opt_state, data, mask)
    memory = step.executable.memory_analysis()
    temp_mb = (
        getattr(memory, "temp_size_in_bytes", 0) / 2**20 if memory else float("nan")
    )
    state = [params, opt_state]

    def call() -> None:
        state[0], state[1] = one(state[0], state[1])
        jax.block_until_ready(state[0])

    def check() -> None:
        assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(state[0]))

    return call, compile_s, temp_mb, check


# --- PyTorch / Opacus ---------------------------------------------------------


def build_torch(variant: str, batch: int):
    """Return (call, setup_s, nan, check) for one PyTorch/Opacus variant."""
    import warnings

    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for k, (_, i, o) in enumerate(SIZES):
        layers.append(nn.Linear(i, o))
        if k < len(SIZES) - 1:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    x_np, y_np = _data(batch)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype("int64"))
    setup_s = 0.0
    if variant != "torch_plain":
        from opacus import PrivacyEngine

        warnings.simplefilter("ignore")  # secure-RNG and other advisory warnings
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y), batch_size=batch
        )
        engine = PrivacyEngine()
        start = time.perf_counter()
        if variant == "opacus_ghost":
            model, optimizer, criterion, _ = engine.make_private(
                module=model,
                optimizer=optimizer,
                data_loader=loader,
                criterion=criterion,
                noise_multiplier=SIGMA,
                max_grad_norm=CLIP,
                poisson_sampling=False,
                grad_sample_mode="ghost",
            )
        else:
            model, optimizer, _ = engine.make_private(
                module=model,
                optimizer=optimizer,
                data_loader=loader,
                noise_multiplier=SIGMA,
                max_grad_norm=CLIP,
                poisson_sampling=False,
            )
        setup_s = time.perf_counter() - start

    def call() -> None:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()

    def check() -> None:
        assert all(torch.isfinite(p).all() for p in model.parameters())

    return call, setup_s, float("nan"), check


def build(variant: str, batch: int):
    return (build_jax if variant.startswith("jax") else build_torch)(variant, batch)


# --- driver -----------------------------------------------------------------


def memory_worker(variant: str, batch: int, warmup: int) -> None:
    """Fresh process, one variant: compile, a few steps, report peak RSS."""
    sys.path.insert(0, str(ROOT))
    call, compile_s, temp_mb, check = build(variant, batch)
    for _ in range(max(warmup, 3)):
        call()
    check()
    print(
        "RESULT "
        + json.dumps(
            {
                "compile_s": compile_s,
                "xla_temp_mb": temp_mb,
                "max_rss_mb": _max_rss_mb(),
            }
        )
    )


def timing_worker(variants: list[str], batch: int, steps: int, warmup: int) -> None:
    """One process, all variants, steps interleaved round-robin.

    Interleaving makes the ratios robust to the load drift of a shared
    machine: every variant sees the same conditions, step by step.
    """
    sys.path.insert(0, str(ROOT))
    calls = {}
    for variant in variants:
        call, _, _, check = build(variant, batch)
        for _ in range(warmup):
            call()
        calls[variant] = (call, check)
    times: dict[str, list[float]] = {v: [] for v in variants}
    order = list(calls)
    for round_index in range(steps):
        # Rotate the order each round so no variant always follows the same one.
        shift = round_index % len(order)
        for variant in order[shift:] + order[:shift]:
            call = calls[variant][0]
            start = time.perf_counter()
            call()
            times[variant].append(time.perf_counter() - start)
    for _, check in calls.values():
        check()
    print(
        "RESULT "
        + json.dumps(
            {
                v: {"median_ms": 1e3 * statistics.median(t), "min_ms": 1e3 * min(t)}
                for v, t in times.items()
            }
        )
    )


def _run(args: list[str]) -> dict | None:
    env = dict(os.environ, **SINGLE_THREAD_ENV)
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    print(f"  {' '.join(args)}: failed: {' | '.join(tail)}", file=sys.stderr)
    return None


def torch_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "opacus"))


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for name in ("jax", "jaxlib", "optax", "torch", "opacus"):
        try:
            parts.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(parts)


def render(results: dict, batches: list[int]) -> str:
    def cell(variant: str, batch: int, key: str, fmt: str) -> str:
        r = results.get((variant, batch))
        return "n/a" if r is None else format(r[key], fmt)

    lines = []
    head = "| variant |" + "".join(f" batch {b} |" for b in batches)
    head += "".join(f" vs Opacus fastest @{b} |" for b in batches)
    head += "".join(f" peak RSS MB @{b} |" for b in batches)
    head += "".join(f" XLA temp MB @{b} |" for b in batches)
    head += " compile / set-up s |"
    lines.append(head)
    lines.append("|" + "---|" * (1 + 4 * len(batches) + 1))
    for variant in [v for v in LABELS if any((v, b) in results for b in batches)]:
        row = f"| {LABELS[variant]} |"
        for b in batches:
            r, base = results.get((variant, b)), results.get(("jax_plain", b))
            if r is None:
                row += " n/a |"
            elif base is None or variant == "jax_plain":
                row += f" {r['median_ms']:.2f} ms |"
            else:
                rel = r["median_ms"] / base["median_ms"]
                row += f" {r['median_ms']:.2f} ms ({rel:.2f}x) |"
        for b in batches:
            fastest = min(
                (
                    results[(v, b)]["median_ms"]
                    for v in ("opacus_hooks", "opacus_ghost")
                    if results.get((v, b))
                ),
                default=None,
            )
            r = results.get((variant, b))
            row += (
                " n/a |"
                if r is None or fastest is None
                else f" {fastest / r['median_ms']:.2f}x faster |"
            )
        for b in batches:
            row += f" {cell(variant, b, 'max_rss_mb', '.0f')} |"
        for b in batches:
            r = results.get((variant, b))
            row += (
                " - |"
                if r is None or math.isnan(r["xla_temp_mb"])
                else f" {r['xla_temp_mb']:.1f} |"
            )
        comp = [
            results[(variant, b)]["compile_s"]
            for b in batches
            if results.get((variant, b))
        ]
        row += (
            " - |"
            if variant == "torch_plain"
            else f" {' / '.join(f'{c:.2f}' for c in comp)} |"
        )
        lines.append(row)
    return "\n".join(lines)


def goals(results: dict, batches: list[int]) -> list[str]:
    def ratio(a: str, b: str, batch: int, key: str) -> float | None:
        ra, rb = results.get((a, batch)), results.get((b, batch))
        return None if not ra or not rb else ra[key] / rb[key]

    def fastest_opacus(batch: int, key: str) -> str | None:
        found = [
            (results[(v, batch)][key], v)
            for v in ("opacus_hooks", "opacus_ghost")
            if results.get((v, batch))
        ]
        return min(found)[1] if found else None

    out = []
    big = max(batches)
    dp = "jax_dp_bookkeeping"
    r_med, r_min = (
        ratio(dp, "jax_plain", big, "median_ms"),
        ratio(dp, "jax_plain", big, "min_ms"),
    )
    if r_med is not None:
        out.append(
            f"DP step / non-private step at batch {big}: {r_med:.2f}x of medians, "
            f"{r_min:.2f}x of best times (goal <= 1.3x: "
            f"{'met' if max(r_med, r_min) <= 1.3 else 'NOT met'})"
        )
    for b in batches:
        peer = fastest_opacus(b, "median_ms")
        if peer and results.get((dp, b)):
            m, n = ratio(peer, dp, b, "median_ms"), ratio(peer, dp, b, "min_ms")
            out.append(
                f"{LABELS[peer]} / ours at batch {b}: {m:.2f}x of medians, {n:.2f}x of "
                f"best times (goal >= 1.6x: {'met' if min(m, n) >= 1.6 else 'NOT met'})"
            )
    small = min(batches)
    for v in ("jax_dp_bookkeeping", "jax_dp_ghost", "jax_dp_vmap"):
        a, b = results.get((v, small)), results.get((v, big))
        if a and b:
            out.append(
                f"{LABELS[v]}: XLA temp {a['xla_temp_mb']:.1f} -> "
                f"{b['xla_temp_mb']:.1f} MB, "
                f"peak RSS {a['max_rss_mb']:.0f} -> {b['max_rss_mb']:.0f} MB "
                f"(batch {small} -> {big})"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument(
        "--steps", type=int, default=30, help="timed steps (>= 30 for the report)"
    )
    parser.add_argument(
        "--light-steps",
        type=int,
        default=100,
        help="timed rounds for the fast variants (cheap; more rounds "
        "make their medians steadier on a loaded machine)",
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=None, help=f"subset of {', '.join(LABELS)}"
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the raw results here"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "timing":
        timing_worker(args.variants, args.batch, args.steps, args.warmup)
        return 0
    if args.worker == "memory":
        memory_worker(args.variants[0], args.batch, args.warmup)
        return 0

    variants = list(args.variants or JAX_VARIANTS)
    if args.variants is None:
        if torch_available():
            variants += list(TORCH_VARIANTS)
        else:
            print(
                "torch/opacus not installed: PyTorch and Opacus rows skipped "
                "(pip install torch opacus to compare; benchmark only)"
            )
    print(
        "DP-SGD step benchmark: MLP 120-256-256-120, softmax CE, Adam, "
        f"sigma={SIGMA}, C={CLIP}"
    )
    print(
        f"one thread per process ({SINGLE_THREAD_ENV['XLA_FLAGS']}; "
        "torch.set_num_threads(1))."
    )
    print(
        f"Times: per batch size, one process runs the light variants with steps "
        f"interleaved round-robin (rotating order, {max(args.steps, args.light_steps)} "
        f"rounds); vmap and Opacus hooks run alone ({args.steps} steps); medians after "
        f"compile + {args.warmup} warm-up steps."
    )
    print(
        "Memory and compile time: each variant alone in a fresh subprocess (ru_maxrss)."
    )
    print(
        f"versions: {versions()}; python {sys.version.split()[0]}; "
        f"cpus {os.cpu_count()}"
    )
    results: dict = {}
    light = [v for v in variants if v not in HEAVY]
    heavy = [v for v in variants if v in HEAVY]
    for batch in args.batch_sizes:
        medians: dict = {}
        # Light variants interleaved in one process; each heavy (gradient-
        # materialising) variant alone, so its huge allocations do not slow
        # whatever runs next.
        for group in ([light] if light else []) + [[v] for v in heavy]:
            start = time.perf_counter()
            rounds = max(args.steps, args.light_steps) if group is light else args.steps
            got = _run(
                [
                    "--worker",
                    "timing",
                    "--batch",
                    str(batch),
                    "--steps",
                    str(rounds),
                    "--warmup",
                    str(args.warmup),
                    "--variants",
                    *group,
                ]
            )
            medians.update(got or {})
            print(
                f"  timing batch {batch} {'+'.join(group)}: "
                f"{time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
        for variant in variants:
            memory = _run(
                [
                    "--worker",
                    "memory",
                    "--batch",
                    str(batch),
                    "--warmup",
                    str(args.warmup),
                    "--variants",
                    variant,
                ]
            )
            if variant not in medians or memory is None:
                continue
            results[(variant, batch)] = {**medians[variant], **memory}
    print()
    print(render(results, args.batch_sizes))
    print()
    for line in goals(results, args.batch_sizes):
        print(line)
    print(
        "Ratios in brackets are to 'JAX, no DP' at the same batch (medians). "
        "Best times (minimum over the steps) are the least disturbed by other "
        "load on the machine. Peak RSS includes the framework itself; XLA temp "
        "is the compiled step's scratch "
        "memory."
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [{"variant": v, "batch": b, **r} for (v, b), r in results.items()],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
