"""Numpy halves of the model families; each has a JAX twin in ``trainer/models``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from provisioner.bundle.header import ModelSpec
from provisioner.errors import MalformedHeader
from provisioner.models import made
from provisioner.models.made import MadeConfig
from provisioner.models.made import MadeSampler

FAMILIES = {made.FAMILY: (MadeConfig, MadeSampler)}


def family_sampler(model: ModelSpec, tensors: Mapping[str, np.ndarray], *,
                   strict: bool = True) -> MadeSampler:
    """The numpy sampler for ``model``, validated against its tensors."""
    try:
        config_type, sampler_type = FAMILIES[model.family]
    except KeyError:
        raise MalformedHeader(
            f"model family {model.family!r} is unknown to this reader (it knows "
            f"{', '.join(sorted(FAMILIES))}); upgrade hzg"
        ) from None
    return sampler_type(config_type.from_plain(model.config, strict=strict), tensors)


__all__ = ("FAMILIES", "MadeConfig", "MadeSampler", "family_sampler")
