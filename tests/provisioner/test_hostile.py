"""Bundles with a good signature and hostile content (issue #11).

A signature says who made a bundle, not that it is harmless. Every bundle
here is signed by the trusted test key, so only the checks behind the
signature stand between it and the reader. Each must be refused with the
code the format names, from its header alone where the header shows the
problem, or be sampled within the stated memory budget.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from provisioner import HzgError, decode_bundle
from provisioner.bundle import layout
from provisioner.errors import SamplingError
from provisioner.generator import Generator
from provisioner.scheme import BLOCK_BYTES, DEFAULT_BLOCK_ROWS
from provisioner.models.made import MadeConfig
from scripts.forge import (
    NOW,
    boolean_column,
    datetime_column,
    forge,
    id_column,
    integer_column,
    made_header,
    made_shapes,
    non_dp_privacy,
    numeric_column,
    string_column,
    zeros_frame,
)


def read(data: bytes, trust):
    return Generator.from_opened(decode_bundle(data, trust=trust, now=NOW))


def refused(data: bytes, trust) -> HzgError:
    with pytest.raises(HzgError) as caught:
        read(data, trust)
    assert "\n" not in str(caught.value)
    return caught.value


def two_columns(**changes):
    return made_header([boolean_column("a"), boolean_column("b")], **changes)


# --- cost: refused from the header, before the payload is touched ----------

COSTLY = {
    "hidden width 65,536": lambda: two_columns(hidden=[65536]),
    "nine hidden layers": lambda: two_columns(hidden=[4] * 9),
    "65,535 categories": lambda: made_header(
        [string_column("c", [f"v{i}" for i in range(65535)])], hidden=[1]),
    "16,385 tokens": lambda: made_header(
        [string_column(f"c{j}", [f"v{i}" for i in range(8193)]) for j in range(2)]),
    "1 GiB of tensors": lambda: made_header(
        [string_column("c", [f"v{i}" for i in range(16383)])], hidden=[16384]),
    "1,025 columns": lambda: made_header(
        [boolean_column(f"c{i}", metadata="dp") for i in range(1025)], hidden=[1]),
    "70,000 cells": lambda: made_header(
        [numeric_column("x", list(range(70_001)), decimals=0)]),
}


@pytest.mark.parametrize("case", sorted(COSTLY))
def test_costly_models_are_refused_from_the_header(case, golden_trust):
    header = COSTLY[case]()
    # A payload that could never be read: if the reader got that far it
    # would report malformed_payload, not the limit.
    data = forge(header, frame=(zeros_frame(64), 64))
    assert refused(data, golden_trust).code == "limit_exceeded"


def test_a_zstd_bomb_is_refused_before_decompressing(golden_trust):
    bomb = zeros_frame(65 * 2**20)  # within the old 1 GiB limit, above 64 MiB
    data = forge(two_columns(), frame=(bomb, 65 * 2**20))
    tracemalloc.start()
    try:
        assert refused(data, golden_trust).code == "limit_exceeded"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak  # nothing near 65 MiB was allocated


def test_payload_values_are_bounded(golden_trust):
    from provisioner.bundle.limits import Limits

    data = forge(two_columns())
    decode_bundle(data, trust=golden_trust, now=NOW)
    with pytest.raises(HzgError) as caught:
        decode_bundle(data, trust=golden_trust, now=NOW, limits=Limits(max_payload_values=10))
    assert caught.value.code == "limit_exceeded"


# --- values a reader cannot represent ---------------------------------------

UNREPRESENTABLE = {
    "created_at 2^63-1": ("generator", "created_at", 2**63 - 1),
    "expires_at after 9999": ("generator", "expires_at", 253_402_300_800),
}


@pytest.mark.parametrize("case", sorted(UNREPRESENTABLE))
def test_times_beyond_year_9999_are_refused(case, golden_trust):
    section, key, value = UNREPRESENTABLE[case]
    header = two_columns()
    header[section][key] = value
    assert refused(forge(header), golden_trust).code == "malformed_header"


@pytest.mark.parametrize("column", [
    datetime_column("d", [3_000_000, 3_000_010]),  # days: year 10183
    datetime_column("d", [0, 2**62], unit="us"),
    integer_column("i", [2**63, 1]),
    numeric_column("x", [-1e300, 1e300], decimals=2),
    numeric_column("n", [0, 2**60], value_type="integer", decimals=0),
    numeric_column("w", [0.0, 1.0], weights=[1e308]),
    string_column("long", ["x" * 1025]),
    id_column("p", pattern="9" * 129),
], ids=["date-past-9999", "us-past-9999", "int-category-2^63", "float-ticks-overflow",
        "integer-edge-2^60", "weight-1e308", "label-1025-chars", "pattern-129-units"])
def test_values_outside_the_decodable_range_are_refused(column, golden_trust):
    assert refused(forge(made_header([column, boolean_column()])),
                   golden_trust).code == "malformed_header"


def test_tensor_dtype_that_is_an_array_is_refused(golden_trust):
    header = made_header([boolean_column()])
    tensors = {"out.b": {"data": b"\0" * 8, "dtype": ["float32"], "shape": [2]},
               "out.w": np.zeros((2, 2))}
    assert refused(forge(header, tensors=tensors), golden_trust).code == "malformed_payload"


def test_overflowing_weights_fail_with_one_line_and_no_warning(golden_trust):
    header = two_columns(hidden=[2])
    shapes = made_shapes(header["model"]["config"])
    big = np.float32(3e38)
    tensors = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    tensors["hidden.0.w"] = np.array([[big, big], [big, big], [0, 0], [0, 0]], np.float32)
    tensors["hidden.0.b"] = np.full(2, big, np.float32)
    tensors["out.w"] = np.array([[0, 0, big, -big], [0, 0, big, -big]], np.float32)
    generator = read(forge(header, tensors=tensors), golden_trust)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SamplingError, match="overflow"):
            generator.sample(10, seed=1)


# --- text that could act on a terminal or a spreadsheet ---------------------

@pytest.mark.parametrize("where, value", [
    ("generator.name", "x\nverified: signed by acme-bank"),
    ("generator.owner", "acme\x1b[2K"),
    ("column.name", "a\rb"),
    ("category", "red\x00"),
    ("category", "\x1b[31mred"),
    ("rare_label", "\x9b31m"),
    ("format", "%Y\n=1+1"),
    ("pattern", "A\t9"),
    ("extension", "line\nbreak"),
    ("provenance", "\x07"),
])
def test_control_characters_are_refused_everywhere(where, value, golden_trust):
    columns = [string_column("c", ["red", "blue"], rare_label="(rare)"),
               datetime_column("d", [18000, 18010], format="%Y"),
               id_column("p", pattern="A-9")]
    header = made_header(columns)
    if where.startswith("generator."):
        header["generator"][where.split(".")[1]] = value
    elif where == "column.name":
        columns[0]["name"] = value
    elif where == "category":
        columns[0]["categories"][0] = value
    elif where == "rare_label":
        columns[0]["rare_label"] = value
    elif where == "format":
        columns[1]["format"] = value
    elif where == "pattern":
        columns[2]["pattern"] = value
    elif where == "extension":
        header["extensions"] = {"note": value}
    else:
        header["provenance"] = {"software": value}
    assert refused(forge(header), golden_trust).code == "malformed_header"


# --- the privacy statement is a closed vocabulary ---------------------------

def _privacy_case(name):
    header = two_columns()
    privacy = header["privacy"]
    if name == "unknown accountant":
        privacy["accountant"] = "trust-me"
    elif name == "integer epsilon":
        privacy["epsilon"] = 1
        privacy["phases"][0]["epsilon"] = 1
    elif name == "integer delta":
        privacy["delta"] = 0
        privacy["phases"][0]["delta"] = 0
    elif name == "non-DP ledger with phases":
        header["privacy"] = dict(non_dp_privacy(), phases=[
            {"delta": 0.0, "epsilon": 1.0, "name": "main"}])
    elif name == "non-DP ledger with an accountant":
        header["privacy"] = dict(non_dp_privacy(), accountant="pld")
    elif name == "unknown unit":
        privacy["unit"] = "subject"
    elif name == "unknown relation":
        privacy["neighboring"] = "replace_one"
    return header


@pytest.mark.parametrize("name", [
    "unknown accountant", "integer epsilon", "integer delta", "non-DP ledger with phases",
    "non-DP ledger with an accountant", "unknown unit", "unknown relation"])
def test_privacy_statement_outside_the_spec_is_refused(name, golden_trust):
    assert refused(forge(_privacy_case(name)), golden_trust).code == "malformed_header"


# --- what the format allows, the reader accepts -----------------------------

def test_a_newer_minor_version_may_add_tensors_and_keys(golden_trust):
    header = two_columns()
    shapes = made_shapes(header["model"]["config"])
    tensors = {name: {"data": bytes(4 * int(np.prod(s))), "dtype": "float32",
                      "shape": list(s), "future": 1} for name, s in shapes.items()}
    tensors["future.w"] = {"data": b"", "dtype": "int8", "shape": [0]}
    header["schema"]["columns"][0]["future_key"] = True
    generator = read(forge(header, tensors=tensors, minor=layout.FORMAT_MINOR + 1),
                     golden_trust)
    assert generator.sample(5, seed=1).num_rows == 5
    with pytest.raises(HzgError) as caught:  # the same bundle as this minor version
        read(forge(header, tensors=tensors), golden_trust)
    assert caught.value.code in ("malformed_header", "malformed_payload")


def test_negative_zero_counts_as_zero_under_a_mask(golden_trust):
    header = two_columns()
    shapes = made_shapes(header["model"]["config"])
    tensors = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    tensors["out.w"] = np.full(shapes["out.w"], -0.0, np.float32)
    read(forge(header, tensors=tensors), golden_trust).sample(3, seed=0)


def test_a_linear_number_of_checks_for_a_wide_dp_schema(golden_trust):
    columns = [boolean_column(f"c{i}", metadata="dp") for i in range(1024)]
    generator = read(forge(made_header(columns, hidden=[1])), golden_trust)
    assert len(generator.schema.columns) == 1024


# --- the memory budget of sampling ------------------------------------------

@pytest.mark.parametrize("config", [
    MadeConfig((2, 3), (16,), direct=True),
    MadeConfig((2,) * 40, (64, 32), direct=True),
    MadeConfig((500, 3, 20), (128,), direct=False),
    MadeConfig((3, 3), (4096,), direct=False),
    MadeConfig((1000, 1000), (), direct=True),
], ids=["small", "forty-columns", "wide-column", "wide-hidden", "two-wide"])
def test_sampling_bytes_per_row_bounds_what_a_block_allocates(config):
    """The seam with the sampling scheme: the per-row cost is an upper bound."""
    from provisioner.models.made import MadeSampler, masks, tensor_shapes

    rng = np.random.default_rng(0)
    mask = masks(config)
    tensors = {n: (rng.normal(size=s) * mask.get(n, 1)).astype(np.float32)
               for n, s in tensor_shapes(config).items()}
    sampler = MadeSampler(config, tensors)
    sampler.sample(8, np.random.default_rng(1))  # build the blocks outside the count
    rows = 512
    tracemalloc.start()
    try:
        sampler.sample(rows, np.random.default_rng(2), {0: [0, 1]})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= rows * config.sampling_bytes_per_row(), (peak, rows)


def test_blocks_shrink_for_models_too_costly_to_compute(golden_trust):
    """A model at the tensor limit makes blocks of bounded arithmetic."""
    from provisioner.scheme import BLOCK_FLOPS

    generator = read(forge(two_columns(hidden=[1024, 1024, 1024])), golden_trust)
    flops = generator.sampler.config.sampling_flops_per_row()
    assert generator.block_rows < DEFAULT_BLOCK_ROWS
    assert generator.block_rows * flops <= BLOCK_FLOPS


def test_blocks_shrink_only_for_models_too_wide_for_the_budget(golden_trust):
    small = read(forge(two_columns(hidden=[128])), golden_trust)
    assert small.block_rows == DEFAULT_BLOCK_ROWS
    wide = read(forge(two_columns(hidden=[16384])), golden_trust)
    assert wide.block_rows < DEFAULT_BLOCK_ROWS
    per_row = wide.sampler.config.sampling_bytes_per_row()
    assert wide.block_rows * per_row <= BLOCK_BYTES
    assert wide.sample(3, seed=0).num_rows == 3
