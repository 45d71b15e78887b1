"""Numpy halves of the model families; each has a JAX twin in ``trainer/models``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from provisioner.bundle.header import ModelSpec
from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.errors import MalformedHeader
from provisioner.models import made
from provisioner.models.made import MadeConfig
from provisioner.models.made import MadeSampler

FAMILIES = {made.FAMILY: (MadeConfig, MadeSampler)}


def check_family_limits(model: ModelSpec, limits: Limits = DEFAULT_LIMITS) -> None:
    """The cost limits of ``model``'s config (nothing if the family is unknown)."""
    if model.family in FAMILIES:
        FAMILIES[model.family][0].check_limits(model.config, limits)


def family_config(model: ModelSpec, *, strict: bool = True,
                  limits: Limits = DEFAULT_LIMITS) -> Any:
    """The typed config of ``model``'s family, checked against ``limits``."""
    try:
        config_type, _ = FAMILIES[model.family]
    except KeyError:
        raise MalformedHeader(
            f"model family {model.family!r} is unknown to this reader (it knows "
            f"{', '.join(sorted(FAMILIES))}); upgrade hzg"
        ) from None
    return config_type.from_plain(model.config, strict=strict, limits=limits)


def family_sampler(family: str, config: Any, tensors: Mapping[str, np.ndarray], *,
                   strict: bool = True) -> MadeSampler:
    """The numpy sampler of ``family`` for ``config``, checked against its tensors."""
    _, sampler_type = FAMILIES[family]
    return sampler_type(config, tensors, strict=strict)


__all__ = ("FAMILIES", "MadeConfig", "MadeSampler", "check_family_limits", "family_config",
           "family_sampler")
