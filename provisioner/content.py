"""What a bundle's header says, typed and checked: the reader's content step.

    content = check_content(header, strict=True, limits=DEFAULT_LIMITS)
    content.schema, content.privacy, content.config

The codec runs this on every header *before* it touches the payload
(HZG.md, "Reading a bundle", step 10), so a bundle whose schema, privacy
statement or model breaks a rule, or whose model would cost more than the
limits allow, is refused from its header alone. The writer runs the same
function on what it is about to write (``Bundle.save``).

Everything here is linear in the size of the header.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.errors import MalformedHeader
from provisioner.models import check_family_limits, family_config, family_sampler
from provisioner.privacy import PrivacyStatement
from provisioner.schema import Schema, check_schema_limits

if TYPE_CHECKING:
    from provisioner.bundle.header import Header
    from provisioner.models import MadeSampler


@dataclasses.dataclass(frozen=True)
class Content:
    """The checked schema, privacy statement and model config of a header."""

    schema: Schema
    privacy: PrivacyStatement
    config: Any  # the family's config type, e.g. MadeConfig
    family: str
    strict: bool = True

    def sampler(self, tensors: Mapping[str, np.ndarray]) -> MadeSampler:
        """The family's sampler, after checking the tensors against the config."""
        return family_sampler(self.family, self.config, tensors, strict=self.strict)


def check_content(header: Header, *, strict: bool = True,
                  limits: Limits = DEFAULT_LIMITS) -> Content:
    """Check sections 6 to 8 of HZG.md on a header; cost limits first.

    Raises:
      LimitExceeded: the content would cost more than ``limits`` allow.
      MalformedHeader: any other rule is broken.
    """
    # Cost limits of the schema and of the model come before every other
    # content rule, so the answer does not depend on the order of checks.
    check_schema_limits(header.schema, limits)
    check_family_limits(header.model, limits)
    schema = Schema.from_plain(header.schema, strict=strict, limits=limits)
    config = family_config(header.model, strict=strict, limits=limits)
    privacy = PrivacyStatement.from_plain(header.privacy, strict=strict)
    counts = tuple(c.num_tokens for c in schema.modelled)
    if counts != tuple(config.token_counts):
        raise MalformedHeader(
            f"schema token counts {_short(counts)} do not match the model's "
            f"{_short(tuple(config.token_counts))}"
        )
    _check_metadata_origins(schema, privacy)
    return Content(schema, privacy, config, header.model.family, strict)


def _check_metadata_origins(schema: Schema, privacy: PrivacyStatement) -> None:
    origins = {c.metadata for c in schema.columns}
    if not privacy.dp:
        if "dp" in origins:
            raise MalformedHeader("a non-DP bundle cannot mark metadata as 'dp'")
        return
    if "exact" in origins:
        raise MalformedHeader("a DP bundle cannot hold metadata read exactly from data")
    covered = privacy.covered_columns()  # once: linear in the header
    for column in schema.columns:
        if column.metadata == "dp" and column.name not in covered:
            raise MalformedHeader(
                f"column {column.name!r} has DP metadata that no mechanism in the "
                "privacy statement accounts for"
            )


def _short(values: tuple[int, ...]) -> str:
    return str(values) if len(values) <= 8 else f"{values[:8]}... ({len(values)} columns)"
