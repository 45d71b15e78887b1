"""Hard limits a reader enforces before it allocates (HZG.md, "Limits").

The defaults are the format's maxima: a conforming writer never exceeds them
and a conforming reader rejects anything above them. A reader may be run with
lower limits (``Limits(max_payload_bytes=...)``), never higher ones.
"""

from __future__ import annotations

import dataclasses

from provisioner.errors import ConfigError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclasses.dataclass(frozen=True)
class Limits:
    """Upper bounds checked while reading a bundle.

    Attributes:
      max_header_bytes: length of the msgpack header region.
      max_payload_bytes: length of the compressed payload region.
      max_decompressed_bytes: declared (and actual) size of the decompressed
        payload; checked before decompression starts.
      max_window_bytes: zstd window the decoder may need.
      max_tensors: number of tensors in the payload.
      max_rank: dimensions of one tensor.
      max_dim: size of one dimension.
      max_string_bytes: UTF-8 length of any string in the header.
      max_container_entries: entries of any msgpack array or map.
      max_depth: nesting of arrays and maps (the top-level map is depth 1).
    """

    max_header_bytes: int = 4 * MiB
    max_payload_bytes: int = 1 * GiB
    max_decompressed_bytes: int = 1 * GiB
    max_window_bytes: int = 128 * MiB
    max_tensors: int = 1024
    max_rank: int = 8
    max_dim: int = 2**31 - 1
    max_string_bytes: int = 64 * KiB
    max_container_entries: int = 1_048_576
    max_depth: int = 32

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            ceiling = getattr(FORMAT_LIMITS, field.name, None) if _FORMAT_READY else None
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {field.name}={value!r} to be an integer >= 1.")
            if ceiling is not None and value > ceiling:
                raise ConfigError(
                    f"{field.name}={value} is above the format's maximum {ceiling}; "
                    "readers may lower limits, never raise them."
                )


_FORMAT_READY = False
FORMAT_LIMITS = Limits()
_FORMAT_READY = True
DEFAULT_LIMITS = FORMAT_LIMITS
