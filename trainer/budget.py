"""plan a privacy budget: epsilon for a noise level, or the noise for an epsilon

``hzg budget`` answers, before any data is touched, what a DP-SGD run would
cost: with ``--noise-multiplier`` it prints the ε spent, with ``--epsilon``
the noise multiplier that reaches it. The run is described as the trainer
will run it: Poisson sampling at q = batch / rows, ``steps = int(epochs / q)``,
the Gaussian mechanism per step, composed by Google's dp-accounting (PLD by
default, RDP on request)::

    $ hzg budget --rows 32561 --batch-size 256 --epochs 10 \\
          --noise-multiplier 1.0 --delta 1e-5
    sampling rate      0.00786217
    steps              1271
    noise multiplier   1 (given)
    epsilon            1.582
    delta              1e-05
    accountant         pld (dp-accounting 0.6.0)

Default δ: 1e-6 for tables under one million rows (always below 1/rows, as
δ must be: a δ near 1/rows allows a mechanism that publishes a random row).
Larger tables must give ``--delta`` explicitly. The figures cover DP-SGD only;
the trainer's metadata mechanisms (row count, bins, vocabularies) spend
budget of their own.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from provisioner._checks import positive, positive_int, probability
from provisioner.errors import ConfigError

__all__ = ("DEFAULT_DELTA", "add_arguments", "default_delta", "plan_budget", "resolve_delta",
           "run")

DEFAULT_DELTA = 1e-6
_DEFAULT_DELTA_MAX_ROWS = 1_000_000


def default_delta(rows: int) -> float:
    """δ when the user gives none: 1e-6 below one million rows, else an error."""
    if rows >= _DEFAULT_DELTA_MAX_ROWS:
        raise ConfigError(
            f"with {rows} rows there is no default delta; give --delta explicitly "
            f"(well below 1/rows = {1 / rows:.3g}, e.g. {_suggest_delta(rows):g})."
        )
    return DEFAULT_DELTA


def resolve_delta(delta: float | None, rows: int) -> float:
    """The given δ, or the default, checked to be below 1/rows.

    The check uses the exact row count on-prem; its only outcome is an error
    message, never part of a bundle.
    """
    if delta is None:
        delta = default_delta(rows)
    probability(delta=delta)
    if delta >= 1.0 / rows:
        raise ConfigError(
            f"--delta {delta:g} is not below 1/rows = {1 / rows:.3g}; such a delta "
            f"allows publishing a random row. Use e.g. {_suggest_delta(rows):g}."
        )
    return delta


def _suggest_delta(rows: int) -> float:
    # The largest power of ten at most 1/(10·rows): a hint, not a default.
    return 10.0 ** math.floor(math.log10(1.0 / (10.0 * rows)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hzg budget``."""
    parser.add_argument(
        "--rows",
        type=int,
        required=True,
        metavar="N",
        help="rows in the table (the privacy unit is a row)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        required=True,
        metavar="B",
        help="expected batch size; sampling rate q = B / N",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        required=True,
        metavar="E",
        help="passes over the data; steps = int(E / q)",
    )
    noise = parser.add_mutually_exclusive_group(required=True)
    noise.add_argument(
        "--noise-multiplier",
        type=float,
        metavar="S",
        help="noise std over clip norm; prints the epsilon spent",
    )
    noise.add_argument(
        "--epsilon",
        type=float,
        metavar="T",
        help="target epsilon; prints the noise multiplier needed",
    )
    parser.add_argument(
        "--delta",
        type=float,
        metavar="D",
        help="target delta (default 1e-6 below 1,000,000 rows; must be < 1/rows)",
    )
    parser.add_argument(
        "--accountant",
        choices=("pld", "rdp"),
        default="pld",
        help="privacy accountant (default pld; rdp is looser)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def plan_budget(
    rows: int,
    batch_size: int,
    epochs: float,
    *,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float | None = None,
    accountant: str = "pld",
) -> dict[str, Any]:
    """The figures ``hzg budget`` prints, as a dict (validated inputs).

    Privacy:
        Uses only public parameters; running it touches no data.
    """
    # Imported here: the accountant pulls in dp-accounting (and SciPy).
    from trainer.dp import accounting

    positive_int(rows=rows, batch_size=batch_size)
    if batch_size > rows:
        raise ConfigError(f"--batch-size {batch_size} is larger than --rows {rows}.")
    positive(epochs=epochs)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ConfigError("give exactly one of --noise-multiplier or --epsilon.")
    delta = resolve_delta(delta, rows)
    q = batch_size / rows
    steps = int(epochs / q)
    if steps < 1:
        raise ConfigError(
            f"--epochs {epochs:g} is less than one step at sampling rate {q:.4g}; "
            "raise --epochs or --batch-size."
        )
    if noise_multiplier is not None:
        positive(noise_multiplier=noise_multiplier)
        source = "given"
        eps = accounting.epsilon(
            noise_multiplier, q, steps, delta, accountant=accountant
        )
    else:
        positive(epsilon=target_epsilon)  # type: ignore[arg-type]
        source = "calibrated"
        noise_multiplier = accounting.calibrate_noise_multiplier(
            target_epsilon,
            delta,
            q,
            steps,
            accountant=accountant,  # type: ignore[arg-type]
        )
        eps = accounting.epsilon(
            noise_multiplier, q, steps, delta, accountant=accountant
        )
    return {
        "rows": rows,
        "batch_size": batch_size,
        "epochs": epochs,
        "sampling_rate": q,
        "steps": steps,
        "noise_multiplier": noise_multiplier,
        "noise_multiplier_source": source,
        "target_epsilon": target_epsilon,
        "epsilon": eps,
        "delta": delta,
        "accountant": accountant,
        "dp_accounting_version": accounting.dp_accounting_version(),
        "sampler": "poisson",
        "neighboring_relation": accounting.NEIGHBORING_RELATION,
    }


def _render(figures: dict[str, Any]) -> str:
    sigma = figures["noise_multiplier"]
    if figures["noise_multiplier_source"] == "given":
        sigma_line = f"{sigma:.6g} (given)"
        eps_line = f"{figures['epsilon']:.4g}"
    else:
        sigma_line = (
            f"{sigma:.4g} (calibrated for epsilon {figures['target_epsilon']:g})"
        )
        eps_line = f"{figures['epsilon']:.5g} (at the calibrated noise multiplier)"
    rows = [
        ("sampling rate", f"{figures['sampling_rate']:.6g}"),
        ("steps", str(figures["steps"])),
        ("noise multiplier", sigma_line),
        ("epsilon", eps_line),
        ("delta", f"{figures['delta']:g}"),
        (
            "accountant",
            (
                f"{figures['accountant']} "
                f"(dp-accounting {figures['dp_accounting_version']})"
            ),
        ),
    ]
    return "\n".join(f"{name:<18} {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hzg budget``."""
    figures = plan_budget(
        args.rows,
        args.batch_size,
        args.epochs,
        noise_multiplier=args.noise_multiplier,
        target_epsilon=args.epsilon,
        delta=args.delta,
        accountant=args.accountant,
    )
    if args.json:
        json.dump(figures, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(_render(figures))
    return 0
