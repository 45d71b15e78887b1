"""Hard limits a reader enforces before it spends (HZG.md, "Limits").

They bound what any bundle, even one with a good signature, can make a
reader allocate, compute or print. Two groups:

* **container** limits bound the bytes: region lengths, the decompressed
  payload, msgpack strings, entries and nesting;
* **cost** limits bound the work the content implies: columns, tokens,
  categories, grid cells, hidden widths and the bytes of the tensors. They
  are checked on the header, before the payload is decompressed, so a tiny
  file cannot declare a model that needs gigabytes to run.

The defaults are the format's maxima: a conforming writer never exceeds them
and a conforming reader rejects anything above them (``limit_exceeded``). A
reader may be run with lower limits (``Limits(max_columns=...)``), never
higher ones.
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

    Container:
      max_header_bytes: length ``H`` of the msgpack header region.
      max_payload_bytes: length ``P`` of the compressed payload region.
      max_decompressed_bytes: ``payload.raw_size``, the decompressed payload
        (the tensors' bytes plus their small msgpack framing); checked
        before decompression starts.
      max_window_bytes: zstd window the decoder may need.
      max_string_bytes: UTF-8 length of any msgpack string.
      max_container_entries: entries of any msgpack array or map.
      max_depth: nesting of arrays and maps (the top-level map is depth 1).
      max_header_values: msgpack values in the header (every map key,
        string, number and container counts as one).
      max_payload_values: msgpack values in the decompressed payload
        (tensor data is one value however long).
      max_tensors: tensors in the payload.
      max_rank: dimensions of one tensor.
      max_dim: size of one dimension.

    Cost (checked on the header, before the payload is read):
      max_columns: output columns in the schema.
      max_tokens: tokens of all modelled columns together (the model's
        input and output width V); also bounds one column's tokens.
      max_categories: categories of one categorical column.
      max_cells: grid cells of one numeric or datetime column.
      max_hidden_layers: hidden layers of a model.
      max_hidden_width: units of one hidden layer.
    """

    max_header_bytes: int = 4 * MiB
    max_payload_bytes: int = 65 * MiB
    max_decompressed_bytes: int = 64 * MiB
    max_window_bytes: int = 64 * MiB
    max_string_bytes: int = 64 * KiB
    max_container_entries: int = 1_048_576
    max_depth: int = 32
    max_header_values: int = 1_048_576
    max_payload_values: int = 65_536
    max_tensors: int = 1024
    max_rank: int = 8
    max_dim: int = 2**31 - 1
    max_columns: int = 1024
    max_tokens: int = 16_384
    max_categories: int = 16_384
    max_cells: int = 65_536
    max_hidden_layers: int = 8
    max_hidden_width: int = 16_384

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            ceiling = getattr(FORMAT_LIMITS, field.name, None) if _FORMAT_READY else None
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {field.name}={value!r} to be an integer >= 1.")
            if ceiling is not None and value > ceiling:
                raise ConfigError(
                    f"{field.name}={value} is above the format's maximum {ceiling}; "
                    "readers may lower limits, never raise them."
                )

    @property
    def max_file_bytes(self) -> int:
        """The largest file these limits allow (prefix, regions, signature)."""
        return 24 + self.max_header_bytes + self.max_payload_bytes + 80


_FORMAT_READY = False
FORMAT_LIMITS = Limits()
_FORMAT_READY = True
DEFAULT_LIMITS = FORMAT_LIMITS

# Text limits of the header schema, in characters (Unicode code points).
# They are part of the format, not reader settings: a name is valid or not.
NAME_CHARS = 256  # column, generator, owner and signer names; the rare label
LABEL_CHARS = 1024  # one category of a string column
FORMAT_CHARS = 64  # a datetime strftime format
PATTERN_UNITS = 128  # an id pattern, counting "\c" as one unit
LEDGER_NAME_CHARS = 64  # phase, mechanism and mechanism kind names
LIBRARY_CHARS = 128  # accountant_library
