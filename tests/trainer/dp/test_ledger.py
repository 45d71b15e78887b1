"""Composing a run by phase: joint within a phase, basic across phases, and
the privacy statement that ships."""

from __future__ import annotations

import dp_accounting
import msgpack
import pytest

from provisioner.errors import ConfigError
from provisioner.privacy import PrivacyStatement
from trainer.dp.accounting import (
    PhaseAccountant,
    dp_accounting_version,
    dpsgd_event,
    epsilon,
    gaussian_epsilon,
    mechanism_event,
)

Q = 0.01
STEPS = 100
DELTA = 1e-6


@pytest.fixture(scope="module")
def ledger() -> PhaseAccountant:
    ledger = PhaseAccountant()
    ledger.begin_phase("row-count")
    ledger.add("row-count", dp_accounting.LaplaceDpEvent(4.0), {"scale": 4.0})
    ledger.begin_phase("main")
    ledger.add(
        "bins",
        dp_accounting.GaussianDpEvent(12.0),
        {"noise_multiplier": 12.0, "sigma": 12.0},
        columns=["age", "hours"],
    )
    ledger.add(
        "vocabulary",
        dp_accounting.GaussianDpEvent(15.0),
        {"noise_multiplier": 15.0, "sigma": 15.0, "threshold": 40.5},
        extra_delta=1e-7,
    )
    ledger.add(
        "dp-sgd",
        dpsgd_event(1.5, Q, STEPS),
        {"noise_multiplier": 1.5, "sampling_probability": Q, "steps": STEPS},
    )
    return ledger


def test_pure_phase_is_exact_at_delta_zero(ledger):
    assert ledger.phase_epsilon("row-count", 0.0) == pytest.approx(0.25)


def test_phase_composes_jointly_in_the_accountant(ledger):
    extra = [dp_accounting.GaussianDpEvent(12.0), dp_accounting.GaussianDpEvent(15.0)]
    joint = ledger.phase_epsilon("main", DELTA)
    assert joint == pytest.approx(epsilon(1.5, Q, STEPS, DELTA, extra_events=extra))
    # Joint composition is strictly tighter than adding the parts' ε at the same δ.
    parts = (
        epsilon(1.5, Q, STEPS, DELTA)
        + gaussian_epsilon(12.0, DELTA)
        + gaussian_epsilon(15.0, DELTA)
    )
    assert joint < parts


def test_phases_add_up(ledger):
    eps, delta = ledger.total({"row-count": 0.0, "main": DELTA})
    assert eps == pytest.approx(0.25 + ledger.phase_epsilon("main", DELTA))
    assert delta == pytest.approx(DELTA + 1e-7)  # accountant δ + partition-selection δ


def test_statement_is_what_ships_msgpack_plain_and_replayable(ledger):
    statement = ledger.statement({"row-count": 0.0, "main": DELTA})
    plain = statement.to_plain()
    packed = msgpack.packb(plain, strict_types=True)  # plain types only
    assert msgpack.unpackb(packed) == plain
    # the bundle's reader accepts it as it is
    assert PrivacyStatement.from_plain(msgpack.unpackb(packed)) == statement
    assert plain["accountant"] == "pld"
    assert plain["accountant_library"] == f"dp-accounting {dp_accounting_version()}"
    assert plain["neighboring"] == "add_or_remove_one"
    assert [p["name"] for p in plain["phases"]] == ["row-count", "main"]
    mechanisms = [m["name"] for m in plain["mechanisms"]]
    assert mechanisms == ["row-count", "bins", "vocabulary", "dp-sgd"]
    assert [m["kind"] for m in plain["mechanisms"]] == [
        "laplace", "gaussian", "gaussian", "poisson_subsampled_gaussian"]
    assert plain["mechanisms"][1]["columns"] == ["age", "hours"]
    assert plain["mechanisms"][2]["params"]["extra_delta"] == 1e-7
    eps, delta = ledger.total({"row-count": 0.0, "main": DELTA})
    assert (plain["epsilon"], plain["delta"]) == pytest.approx((eps, delta))
    # A reader with dp-accounting can recompute the main phase from the
    # shipped kinds and params alone.
    replay = PhaseAccountant()
    replay.begin_phase("main")
    for m in plain["mechanisms"]:
        if m["phase"] == "main":
            replay.add(m["name"], mechanism_event(m["kind"], m["params"]))
    assert replay.phase_epsilon("main", DELTA) == pytest.approx(plain["phases"][1]["epsilon"])


def test_rdp_ledger():
    ledger = PhaseAccountant(accountant="rdp")
    ledger.begin_phase("main")
    ledger.add("dp-sgd", dpsgd_event(1.0, Q, STEPS))
    assert ledger.total({"main": DELTA})[0] == pytest.approx(
        epsilon(1.0, Q, STEPS, DELTA, accountant="rdp")
    )


def test_ledger_misuse_is_refused():
    ledger = PhaseAccountant()
    with pytest.raises(ConfigError, match="begin_phase"):
        ledger.add("x", dp_accounting.GaussianDpEvent(1.0))
    ledger.begin_phase("main")
    with pytest.raises(ConfigError, match="already"):
        ledger.begin_phase("main")
    with pytest.raises(ConfigError, match="plain"):
        ledger.add("x", dp_accounting.GaussianDpEvent(1.0), {"sigma": object()})
    with pytest.raises(ConfigError):
        ledger.add("x", "not an event")  # type: ignore[arg-type]
    ledger.add("g", dp_accounting.GaussianDpEvent(1.0))
    with pytest.raises(ConfigError, match="delta=0"):
        ledger.phase_epsilon("main", 0.0)  # Gaussian needs δ > 0
    with pytest.raises(ConfigError, match="missing"):
        ledger.total({})
    with pytest.raises(ConfigError):
        PhaseAccountant(accountant="prv")  # type: ignore[arg-type]
    assert len(ledger.entries) == 1  # refused adds left no trace
