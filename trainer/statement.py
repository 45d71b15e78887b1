"""Export: what a run actually spent, as the bundle's privacy statement.

The statement (:class:`provisioner.privacy.PrivacyStatement`, the header's
``privacy`` map) is built from the releases that ran and the DP-SGD steps
actually taken, composed phase by phase by
:class:`~trainer.dp.accounting.PhaseAccountant`:

* phase "first" holds the Laplace row count and the typing release
  (composed jointly at the phase's accountant δ; 0 when only the count);
* phase "main" holds the metadata releases and the DP-SGD steps actually
  taken, composed jointly at the main phase's accountant δ.

The DP-SGD parameters come from the plan's own
:meth:`~trainer.dp.plan.DPExecutionPlan.to_plain`, so they are written once.
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.errors import ConfigError
from provisioner.privacy import PrivacyStatement
from trainer.privacy_plan import PrivacyPlan
from trainer.releases import Release

__all__ = ("privacy_statement",)


def _event(release: Release):
    import dp_accounting

    if release.kind == "laplace":
        return dp_accounting.LaplaceDpEvent(release.noise_multiplier)
    if release.kind == "gaussian":
        return dp_accounting.GaussianDpEvent(release.noise_multiplier)
    raise ConfigError(f"internal: release {release.name!r} has unknown kind {release.kind!r}")


def privacy_statement(plan: PrivacyPlan, releases: Sequence[Release],
                      steps_taken: int) -> PrivacyStatement:
    """The statement of a DP run that followed ``plan``.

    Args:
      plan: the run's privacy plan.
      releases: every metadata release that ran, in order (each names its
        phase).
      steps_taken: DP-SGD steps actually taken (≤ ``plan.max_steps``).

    Raises:
      ConfigError: a release names an unknown phase, or what was spent
        exceeds the budget (an internal error: the plan prevents it).
    """
    from trainer.dp.accounting import PhaseAccountant

    accountant = PhaseAccountant(accountant=plan.accountant)
    for phase in (plan.first.name, plan.main.name):
        accountant.begin_phase(phase)
        for release in releases:
            if release.phase == phase:
                accountant.add(release.name, _event(release), release.params,
                               extra_delta=release.extra_delta, kind=release.kind,
                               columns=release.columns)
    unknown = {r.phase for r in releases} - {plan.first.name, plan.main.name}
    if unknown:
        raise ConfigError(f"internal: releases in unknown phase(s) {sorted(unknown)}")
    accountant.add("dp-sgd", plan.dpsgd.event_for(steps_taken),
                   plan.dpsgd.to_plain(steps_taken=steps_taken),
                   kind="poisson_subsampled_gaussian")
    statement = accountant.statement(plan.delta_by_phase)
    if statement.epsilon > plan.epsilon * (1 + 1e-9):
        raise ConfigError(f"internal: spent epsilon {statement.epsilon} exceeds the target")
    return statement
