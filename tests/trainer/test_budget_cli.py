"""``hzg budget`` against the reference table of issue 3, and its errors."""

from __future__ import annotations

import json
import math

import pytest

from provisioner.cli import main

ADULT = ["--rows", "32561", "--batch-size", "256"]


def run_json(capsys, *args: str) -> dict:
    assert main(["budget", *ADULT, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "sigma,epochs,steps,eps_pld,eps_rdp",
    [
        (0.6, 1, 127, 3.497, 4.472),
        (1.0, 10, 1271, 1.582, 1.839),
        (2.0, 50, 6359, 1.291, 1.411),
    ],
)
def test_reference_values(capsys, sigma, epochs, steps, eps_pld, eps_rdp):
    common = [
        "--epochs",
        str(epochs),
        "--noise-multiplier",
        str(sigma),
        "--delta",
        "1e-5",
    ]
    pld = run_json(capsys, *common)
    assert pld["steps"] == steps
    assert pld["sampling_rate"] == pytest.approx(256 / 32561)
    assert pld["epsilon"] == pytest.approx(eps_pld, rel=0.02)
    assert pld["accountant"] == "pld"
    rdp = run_json(capsys, *common, "--accountant", "rdp")
    assert rdp["epsilon"] == pytest.approx(eps_rdp, rel=0.02)


@pytest.mark.parametrize("target,sigma", [("1", 1.292), ("3", 0.7739)])
def test_calibration(capsys, target, sigma):
    out = run_json(capsys, "--epochs", "10", "--epsilon", target, "--delta", "1e-5")
    assert out["noise_multiplier"] == pytest.approx(sigma, rel=0.01)
    assert out["epsilon"] <= float(target)
    assert out["noise_multiplier_source"] == "calibrated"


def test_text_output_one_line_per_figure(capsys):
    assert (
        main(
            [
                "budget",
                *ADULT,
                "--epochs",
                "10",
                "--noise-multiplier",
                "1.0",
                "--delta",
                "1e-5",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    labels = [line.split("  ")[0] for line in lines]
    assert labels == [
        "sampling rate",
        "steps",
        "noise multiplier",
        "epsilon",
        "delta",
        "accountant",
    ]
    assert lines[1].split()[-1] == "1271"
    assert lines[3].split()[-1] == "1.582"
    assert "pld" in lines[5] and "dp-accounting" in lines[5]


def test_default_delta(capsys):
    out = run_json(capsys, "--epochs", "1", "--noise-multiplier", "1.0")
    assert out["delta"] == 1e-6


@pytest.mark.parametrize(
    "args,message",
    [
        (
            [
                "--rows",
                "0",
                "--batch-size",
                "1",
                "--epochs",
                "1",
                "--noise-multiplier",
                "1",
            ],
            "rows",
        ),
        (
            [
                "--rows",
                "10",
                "--batch-size",
                "20",
                "--epochs",
                "1",
                "--noise-multiplier",
                "1",
            ],
            "larger than",
        ),
        (ADULT + ["--epochs", "1", "--epsilon", "-1"], "epsilon"),
        (ADULT + ["--epochs", "1", "--noise-multiplier", "0"], "noise_multiplier"),
        (
            ADULT + ["--epochs", "0.001", "--noise-multiplier", "1"],
            "less than one step",
        ),
        (
            ADULT + ["--epochs", "1", "--noise-multiplier", "1", "--delta", "1e-4"],
            "1/rows",
        ),
        (ADULT + ["--epochs", "1", "--noise-multiplier", "1", "--delta", "0"], "delta"),
        (
            [
                "--rows",
                "2000000",
                "--batch-size",
                "256",
                "--epochs",
                "1",
                "--noise-multiplier",
                "1",
            ],
            "--delta",
        ),
    ],
)
def test_errors_are_one_line_exit_1(capsys, args, message):
    assert main(["budget", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hzg: error: ")
    assert message in lines[0]


def test_noise_options_are_exclusive(capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "budget",
                *ADULT,
                "--epochs",
                "1",
                "--noise-multiplier",
                "1",
                "--epsilon",
                "1",
            ]
        )
    assert exc.value.code == 2  # a usage error, one line
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --- the whole training, planned through the trainer's own plan ---------------


def test_budget_plans_exactly_what_train_runs(adult_small, tiny_config):
    import jax

    from trainer.budget import plan_training
    from trainer.fit import Randomness
    from trainer.train import prepare_run

    run = prepare_run(adult_small, tiny_config, randomness=Randomness(seed=1))
    planned = plan_training(tiny_config, rows=run.plan.dpsgd.num_examples, data=adult_small,
                            num_devices=jax.local_device_count())
    assert planned == run.plan  # same phases, metadata noise, sigma, steps


def test_budget_of_the_whole_training_counts_the_metadata(capsys):
    from tests.trainer.conftest import EXAMPLE

    whole = run_json_args(capsys, "--data", str(EXAMPLE), "--epsilon", "1")
    rows = whole["rows"]
    batch = str(math.ceil(rows / 13))
    alone = run_json_args(capsys, "--rows", str(rows), "--batch-size", batch,
                          "--epochs", "20", "--epsilon", "1")
    assert whole["steps"] == alone["steps"]
    # the metadata and the row count take part of the budget: more noise
    assert whole["noise_multiplier"] > 1.05 * alone["noise_multiplier"]
    assert whole["epsilon"] <= 1.0
    names = [p["name"] for p in whole["privacy_plan"]["phases"]]
    assert names == ["first", "main"]
    assert whole["privacy_plan"]["phases"][1]["metadata_noise_multipliers"]["stage_a"] > 1


def test_budget_from_a_schema_alone_needs_declared_value_types(tmp_path, capsys):
    schema = tmp_path / "s.toml"
    schema.write_text('[columns.age]\nkind = "numeric"\n[columns.sex]\n'
                      'kind = "categorical"\nvalue_type = "string"\n')
    assert main(["budget", "--schema", str(schema), "--rows", "1000", "--epsilon", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'age' needs value_type" in err[0]
    schema.write_text('[columns.age]\nkind = "numeric"\nvalue_type = "integer"\n'
                      '[columns.sex]\nkind = "categorical"\nvalue_type = "string"\n')
    out = run_json_args(capsys, "--schema", str(schema), "--rows", "1000", "--epsilon", "1")
    assert out["plan"] == "training" and out["epsilon"] <= 1.0


def run_json_args(capsys, *args: str) -> dict:
    assert main(["budget", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)
