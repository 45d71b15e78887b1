"""``hzg budget`` against the reference table of issue 3, and its errors."""

from __future__ import annotations

import json

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
