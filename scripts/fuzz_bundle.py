"""Fuzz the reader past the signature: hostile bundles that are validly signed.

    python scripts/fuzz_bundle.py --inputs 100000       # a long run
    python scripts/fuzz_bundle.py --seconds 600 --seed 7

Each input is a bundle built from the grammar of ``format_spec/HZG.md``
(prefix, canonical msgpack header, schema, privacy statement, MADE config,
zstd payload of tensors), with hostile choices at every step: values at
and beyond every limit, control and formula characters, extreme and
negative-zero floats, masks broken or not, unknown keys, other minor
versions, and now and then a raw byte mutation of the header. Every input
is signed by the trusted test key, so only the checks behind the signature
stand between it and the reader.

The oracle: reading it (``decode_bundle``, ``Generator``), showing it
(``inspection.render``) and sampling a few rows to CSV either works or
raises :class:`~provisioner.HzgError` with a one-line message; on an error
no output file is left; a CSV that is written parses back to exactly the
rows asked for and no text cell can run as a formula; no line shown holds
a control character. Anything else is an *escape*: the script prints it
with the seed that reproduces it. It also reports inputs/s and the slowest
input.

The grammar is written against a small ``Draw`` interface so that the same
code runs here on ``random.Random`` (fast, for long runs) and in the test
suite under hypothesis (``tests/provisioner/test_fuzz.py``, which shrinks
what it finds).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgpack
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner import HzgError, decode_bundle, inspection  # noqa: E402
from provisioner.bundle import layout  # noqa: E402
from provisioner.generator import Generator  # noqa: E402
from provisioner.keys import TrustedKey, TrustStore  # noqa: E402
from provisioner.models.made import MadeConfig, masks, tensor_shapes  # noqa: E402
from provisioner.sinks import FORMULA_STARTS, write_rows  # noqa: E402
from scripts.forge import (  # noqa: E402
    GOLDEN,
    NOW,
    assemble,
    compress,
    forge,
    made_shapes,
    zero_tensors_frame,
)

TRUST = TrustStore([TrustedKey(GOLDEN.public_key, GOLDEN.name, "fuzz")])
ROWS = 20  # sampled per accepted input


class Draw(Protocol):
    """Where the grammar's choices come from."""

    def integer(self, low: int, high: int) -> int: ...

    def chance(self, p: float) -> bool: ...

    def choice(self, options: Sequence[Any]) -> Any: ...

    def floats(self) -> float: ...


class RandomDraw:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def floats(self) -> float:
        if self.rng.random() < 0.5:
            return self.choice(FLOAT_EDGES)
        return self.rng.uniform(-1e6, 1e6)


# --- palettes: the values where readers break ---------------------------------

FLOAT_EDGES = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e300, -1e300, 1.7e308,
               2.0**53, 2.0**53 + 2, -(2.0**53), 2.0**62, 2.0**63, 3.4e38, 1e-45,
               0.1, 0.3, 1e15, 123.456)
INT_EDGES = (0, 1, -1, 2, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32,
             2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, -(2**31), -(2**63),
             253_402_300_799, 253_402_300_800, 1_795_000_000, 16_384, 16_385, 1024,
             1025, 65_536, 65_537)
# valid but nasty: formulas, separators, quotes, bidi and line separators,
# long (within limits), escapes, strftime directives
NASTY_TEXT = ("a", "=1+1", "+cmd", "-2+3", "@SUM(A1)", "=HYPERLINK(\"x\")", "a,b", 'a"b',
              '"', ",", "\u202eevil", "\u2028", "\u200b", "é" * 200, "x" * 256, "\\9",
              "%Y", "%Y-%m-%d", "%%", "%A%A%A%A%A%A%A%A", "%", "日本", "\U0001F600",
              " pad ", "__rare__", "red", "NaN", "true", "null", "-", "1e5", "%Y,%m")
# what the format refuses: control characters, over-long, empty, lone backslash
BAD_TEXT = ("", "\tx", "\rx", "line\nbreak", "\x1b[2K", "\x00", "\x7f", "\u009b",
            "x" * 1025, "é" * 257, "\\", "%Y\n=1", "9" * 129)
HOSTILE = 0.03  # how often a choice breaks a rule
KINDS = ("categorical", "numeric", "datetime", "id")
VALUE_TYPES = ("string", "boolean", "integer", "float", "datetime", "text")


def text(d: Draw) -> str:
    if d.chance(HOSTILE):
        return d.choice(BAD_TEXT)
    if d.chance(0.6):
        return d.choice(NASTY_TEXT)
    alphabet = "abcXYZ09=+-@,\"'%\\ é日\u202e"
    return "".join(d.choice(alphabet) for _ in range(d.integer(1, 12)))


def number(d: Draw, integral: bool = False) -> Any:
    if integral or d.chance(0.3):
        return d.choice(INT_EDGES) if d.chance(0.5) else d.integer(-1000, 100_000)
    return d.floats()


def plain_value(d: Draw, depth: int = 0) -> Any:
    """Any canonical value (for free-form maps and replaced fields)."""
    roll = d.integer(0, 9 if depth < 3 else 5)
    if roll == 0:
        return None
    if roll == 1:
        return d.chance(0.5)
    if roll == 2:
        return number(d, integral=True)
    if roll == 3:
        return d.floats()
    if roll in (4, 5):
        return text(d)
    if roll in (6, 7):
        return [plain_value(d, depth + 1) for _ in range(d.integer(0, 4))]
    return {text(d) or "k": plain_value(d, depth + 1) for _ in range(d.integer(0, 4))}


# --- the grammar ----------------------------------------------------------------

def grid(d: Draw, integral: bool, big: bool = False) -> dict[str, Any]:
    if big:  # at and beyond the cell limit, built cheaply
        cells = d.choice((65_536, 65_537))
        return {"bin_starts": [0], "cell_edges": list(range(cells + 1)),
                "cell_weights": [1.0] * cells}
    cells = d.choice((1, 2, 3, 5, 10))
    if d.chance(0.8):
        start = d.integer(-1000, 100_000) if not d.chance(HOSTILE) else number(d, True)
        if not integral and d.chance(0.5):
            start = d.floats() if d.chance(HOSTILE) else start / 7
        step = d.choice((1, 2, 7, 1000)) if integral else d.choice((0.01, 1.0, 1e3))
        if d.chance(HOSTILE):
            step = d.choice((2**40, 1e10, 1e300))
        edges = [start + i * step for i in range(cells + 1)]
    else:
        edges = sorted(number(d, integral) for _ in range(cells + 1))
    edges = [max(min(e, 2**63 - 1), -(2**63)) if isinstance(e, int) else e for e in edges]
    weights = [d.choice((0, 0.0, 1, 2.5, 1e-300, 1e15, 2.0**53, 5e-324))
               if d.chance(0.3) else 1.0 for _ in range(cells)]
    if d.chance(HOSTILE):
        weights[0] = d.choice((1e308, -1, -0.0))
    starts = [0]
    for cell in range(1, cells):
        if d.chance(0.3):
            starts.append(cell)
    if d.chance(HOSTILE):
        starts = [d.integer(-1, cells + 1) for _ in range(d.integer(0, 3))]
    return {"bin_starts": starts, "cell_edges": edges, "cell_weights": weights}


def column(d: Draw, index: int, big: str = "") -> dict[str, Any]:
    kind = d.choice(KINDS) if not d.chance(HOSTILE) else d.choice(("text", ""))
    if big == "categories":
        kind = "categorical"
    if big == "cells":
        kind = "numeric"
    name = f"c{index}" if d.chance(0.7) else f"{text(d)}{index}"
    base: dict[str, Any] = {"kind": kind, "metadata": d.choice(("public", "dp"))
                            if not d.chance(HOSTILE) else d.choice(("exact", "secret")),
                            "name": name, "nullable": d.chance(0.3)}
    if kind == "categorical":
        value_type = d.choice(("string", "boolean", "integer"))
        count = d.integer(0, 6)
        if big == "categories":
            value_type, count = "integer", d.choice((16_384, 16_385))
        if value_type == "string":
            values = [text(d) if d.chance(0.4) else f"v{i}" for i in range(count)]
        elif value_type == "integer":
            values = list(range(count))
            if count and d.chance(0.2):
                values[0] = number(d, integral=True)
        else:
            values = [False, True][:min(count, 2)]
        base.update(value_type=value_type, categories=values,
                    rare_label=(text(d) if d.chance(0.5) else "__rare__")
                    if value_type == "string" and d.chance(0.5) else None)
        if d.chance(0.3):  # 1.1's filler (text columns): templates up to and past the limit
            base["filler"] = d.choice(("Aaaa 99", "a" * 128, "9" * 129, "\\9\\A-x", "\\",
                                       "")) if not d.chance(0.3) else text(d)
    elif kind == "numeric":
        value_type = d.choice(("integer", "float"))
        decimals = d.integer(-16, 16) if d.chance(HOSTILE) else (
            d.integer(-2, 0) if value_type == "integer" else d.integer(0, 4))
        base.update(value_type=value_type, decimals=decimals,
                    **grid(d, value_type == "integer", big=big == "cells"))
    elif kind == "datetime":
        unit = d.choice(("D", "s", "ms", "us")) if not d.chance(HOSTILE) else "week"
        scale = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}.get(unit, 1)
        cells = grid(d, True)
        if not d.chance(HOSTILE):  # days since 1970 mostly, in the column's unit
            cells["cell_edges"] = [int(e) % 50_000 * scale + i for i, e in
                                   enumerate(cells["cell_edges"])]
            cells["cell_edges"].sort()
        base.update(value_type="datetime", unit=unit,
                    format=None if d.chance(0.4) else text(d), **cells)
        if d.chance(0.3):  # 1.1's optional zone: real names, offsets and hostile text
            base["timezone"] = d.choice(("UTC", "Europe/Paris", "Asia/Kathmandu", "+05:45",
                                         "-23:59", "Mars/Olympus_Mons")) \
                if not d.chance(HOSTILE) else text(d)
    elif kind == "id":
        style = d.choice(("sequence", "uuid", "pattern"))
        base.update(value_type="integer" if style == "sequence" else "string", style=style,
                    pattern=(text(d) or "9") if style == "pattern" else None,
                    nullable=d.chance(HOSTILE))
    else:
        base["value_type"] = d.choice(VALUE_TYPES)
    if d.chance(HOSTILE):
        key = d.choice(sorted(base))
        base[key] = plain_value(d)
    if d.chance(HOSTILE):
        base["future_key"] = plain_value(d)
    return base


def tokens_of(column: dict[str, Any]) -> int:
    try:
        if column["kind"] == "id":
            return 0
        if column["kind"] == "categorical":
            base = len(column["categories"]) + (column.get("rare_label") is not None)
        else:
            base = len(column["bin_starts"])
        return base + bool(column.get("nullable"))
    except (KeyError, TypeError):
        return 1


def privacy(d: Draw, columns: list[dict[str, Any]]) -> dict[str, Any]:
    if d.chance(0.2):
        statement = {"accountant": None, "accountant_library": None, "delta": None,
                     "dp": False, "epsilon": None, "mechanisms": [],
                     "neighboring": "add_or_remove_one", "phases": [], "unit": "row"}
    else:
        epsilon = d.choice((1.0, 0.3, 1e-300, 1e300, 5.0)) if d.chance(0.3) else 1.0
        delta = d.choice((1e-6, 0.0, 0.999)) if d.chance(0.2) else 1e-6
        if d.chance(HOSTILE):
            delta = 1.0
        covered = [c.get("name") for c in columns if isinstance(c.get("name"), str)
                   and not d.chance(HOSTILE)]
        statement = {"accountant": d.choice(("pld", "rdp")) if not d.chance(HOSTILE) else "x",
                     "accountant_library": "dp-accounting 0.6.0", "delta": delta,
                     "dp": True, "epsilon": epsilon,
                     "mechanisms": [{"columns": covered, "kind": "gaussian",
                                     "name": "metadata", "params": {"sigma": 1.0},
                                     "phase": "main"}],
                     "neighboring": "add_or_remove_one",
                     "phases": [{"delta": delta, "epsilon": epsilon, "name": "main"}],
                     "unit": "row"}
    if not statement["dp"]:
        for c in columns:
            if c.get("metadata") == "dp" and not d.chance(HOSTILE):
                c["metadata"] = "public"
    if d.chance(HOSTILE):
        key = d.choice(sorted(statement))
        statement[key] = plain_value(d)
    return statement


def header(d: Draw) -> dict[str, Any]:
    big = d.choice(("columns", "categories", "cells", "width", "layers", "tensors")) \
        if d.chance(0.01) else ""
    count = d.integer(1, 8) if big != "columns" else d.choice((1024, 1025))
    columns = [column(d, i, big if i == 0 else "") if big != "columns"
               else {"categories": [False, True], "kind": "categorical",
                     "metadata": "public", "name": f"c{i}", "nullable": False,
                     "rare_label": None, "value_type": "boolean"} for i in range(count)]
    counts = [tokens_of(c) for c in columns if c.get("kind") != "id"] or [1]
    if d.chance(HOSTILE):
        counts = [max(0, n + d.integer(-1, 1)) for n in counts]
    hidden = [d.choice((1, 2, 8, 16)) for _ in range(d.integer(0, 2))]
    if big == "width":
        hidden = [d.choice((4096, 16_384, 16_385, 65_536))]
    elif big == "layers":
        hidden = [4] * d.choice((8, 9))
    elif big == "tensors":
        hidden = [1024, d.choice((8192, 16_384))]
    generator = {"created_at": d.choice((1_795_000_000, 0, 253_402_300_799, 2**63 - 1))
                 if d.chance(0.1) else 1_795_000_000,
                 "expires_at": None if d.chance(0.9) else d.choice((NOW - 10_000, NOW, 0)),
                 "id": "0123456789abcdef0123456789abcdef",
                 "name": "fuzz" if d.chance(0.7) else text(d),
                 "owner": "golden" if d.chance(0.8) else text(d), "version": 1}
    h: dict[str, Any] = {
        "generator": generator,
        "model": {"config": {"activation": "relu", "direct": d.chance(0.5),
                             "hidden": hidden, "token_counts": counts},
                  "family": "made" if not d.chance(HOSTILE) else text(d)},
        "privacy": privacy(d, columns),
        "provenance": {"software": "fuzz"} if d.chance(0.9) else {"x": plain_value(d)},
        "schema": {"columns": columns, "rows": None if d.chance(0.7) else
                   d.integer(0, 10**6) if not d.chance(HOSTILE) else number(d, True)},
    }
    if d.chance(0.1):
        h["extensions"] = {"note" if d.chance(0.8) else text(d):
                           text(d) if d.chance(0.9) else plain_value(d)}
    if d.chance(HOSTILE):
        section = d.choice(sorted(h))
        h[section] = plain_value(d)
    return h


F32_EDGES = np.array([0.0, -0.0, 1.0, -1.0, 3.4e38, -3.4e38, 1e-45, 1e-38, 100.0, 1e10],
                     np.float32)


def tensors(d: Draw, h: dict[str, Any]) -> dict[str, Any] | tuple[bytes, int]:
    """The payload: plain tensors, or (frame, raw size) for huge zero models."""
    try:
        config = MadeConfig.from_plain(h["model"]["config"], strict=False)
        shapes = tensor_shapes(config)
        elements = sum(int(np.prod(s)) for s in shapes.values())
    except Exception:
        shapes, elements = {"out.w": (2, 2), "out.b": (2,)}, 6
        config = None
    if elements > 2_000_000:  # too big to fill: zeros, streamed (or a lie about them)
        return zero_tensors_frame(made_shapes(h["model"]["config"]))
    rng = np.random.default_rng(d.integer(0, 2**31))
    mask = masks(config) if config is not None and elements < 200_000 else {}
    out: dict[str, Any] = {}
    for name, shape in shapes.items():
        if d.chance(0.3):
            values = F32_EDGES[rng.integers(0, len(F32_EDGES), size=shape)]
        else:
            values = rng.normal(0, 1, size=shape).astype(np.float32)
        if name in mask and not d.chance(HOSTILE):
            values = values * mask[name]
        dtype = "float32" if not d.chance(HOSTILE) else d.choice(("float64", "int8", "bool"))
        with np.errstate(invalid="ignore", over="ignore"):  # casts are the point
            little = np.ascontiguousarray(values, dtype=np.dtype(
                dtype if dtype != "bool" else "?").newbyteorder("<"))
        entry = {"data": little.tobytes(), "dtype": dtype, "shape": list(little.shape)}
        if d.chance(HOSTILE / 3):
            entry["shape"] = [d.choice(INT_EDGES) for _ in range(d.integer(0, 9))]
        out[name] = entry
    if d.chance(HOSTILE / 3):
        out.pop(d.choice(sorted(out)))
    if d.chance(HOSTILE):
        out["extra.t"] = {"data": b"\x00\x01", "dtype": "bool", "shape": [2]}
    return out


def bundle(d: Draw) -> bytes:
    """One signed hostile bundle."""
    h = header(d)
    payload = tensors(d, h)
    minor = layout.FORMAT_MINOR if d.chance(0.85) else d.choice((0, 2, 7))
    canonical = not d.chance(HOSTILE)  # now and then a second encoding, unsorted keys
    if isinstance(payload, tuple):
        data = forge(h, frame=payload, tensor_count=len(made_shapes(h["model"]["config"])),
                     minor=minor, canonical=canonical)
    else:
        data = forge(h, tensors=payload, minor=minor, canonical=canonical)
    if d.chance(HOSTILE):  # raw mutation of the header bytes, re-signed
        size = int.from_bytes(data[8:16], "little")
        region = bytearray(data[24:24 + size])
        for _ in range(d.integer(1, 4)):
            region[d.integer(0, len(region) - 1)] = d.integer(0, 255)
        rest = data[24 + size:-layout.SIGNATURE_BLOCK_SIZE]
        data = assemble(bytes(region), rest, GOLDEN, minor=minor)
    return data


# --- the oracle -----------------------------------------------------------------

class Escape(Exception):
    """The reader did something the contract forbids."""


def check(data: bytes, folder: Path, seed: int = 0) -> str:
    """Read, show and sample one bundle; return "refused" or "accepted"; raise Escape."""
    out = folder / "rows.csv"
    try:
        opened = decode_bundle(data, trust=TRUST, now=NOW)
        generator = Generator.from_opened(opened)
        shown = inspection.render(opened, generator) + "\n" + inspection.verdict(
            opened, generator)
        for line in shown.splitlines():
            if not line.isprintable():
                raise Escape(f"a shown line holds a non-printable character: {line!r}")
        write_rows(generator.iter_batches(ROWS, seed=seed), generator.columns, out)
    except HzgError as exc:
        message = str(exc)
        if "\n" in message or not message:
            raise Escape(f"an error message is not one line: {message!r}") from None
        left = sorted(p.name for p in folder.iterdir())
        if left:
            raise Escape(f"files left after an error ({exc.code}): {left}") from None
        return "refused"
    text = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) != ROWS + 1 or any(len(r) != len(generator.columns) for r in rows):
        raise Escape(f"the CSV does not parse back to {ROWS} rows of "
                     f"{len(generator.columns)} cells")
    textual = [i for i, c in enumerate(generator.columns)
               if (c.kind == "categorical" and c.value_type == "string")
               or (c.kind == "id" and c.style != "sequence")
               or (c.kind == "datetime" and c.format is not None)]
    for row in rows[1:]:
        for i in textual:
            if row[i].startswith(FORMULA_STARTS):
                raise Escape(f"a text cell can run as a formula: {row[i][:40]!r}")
    for cell in rows[0]:
        if cell.startswith(FORMULA_STARTS):
            raise Escape(f"a header cell can run as a formula: {cell[:40]!r}")
    out.unlink()
    return "accepted"


def run_one(seed: int, folder: Path) -> tuple[str, float]:
    data = bundle(RandomDraw(random.Random(seed)))
    start = time.perf_counter()
    outcome = check(data, folder, seed)
    return outcome, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop after this long instead of after --inputs")
    parser.add_argument("--seed", type=int, default=0, help="first input's seed")
    parser.add_argument("--report-every", type=float, default=30.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hzg-fuzz-"))
    counts = {"accepted": 0, "refused": 0, "escape": 0}
    slowest = (0.0, -1)
    started = last = time.perf_counter()
    seed = args.seed
    try:
        while True:
            done = sum(counts.values())
            elapsed = time.perf_counter() - started
            if (args.seconds is not None and elapsed >= args.seconds) or \
                    (args.seconds is None and done >= args.inputs):
                break
            try:
                outcome, seconds = run_one(seed, folder)
                counts[outcome] += 1
                slowest = max(slowest, (seconds, seed))
            except Exception as exc:  # an escape: anything but HzgError
                counts["escape"] += 1
                kind = "escape" if isinstance(exc, Escape) else type(exc).__name__
                print(f"ESCAPE seed={seed} {kind}: {str(exc)[:300]}", flush=True)
                if not isinstance(exc, Escape):
                    traceback.print_exc(limit=3)
                for stray in folder.iterdir():
                    stray.unlink()
            seed += 1
            now = time.perf_counter()
            if now - last >= args.report_every:
                last = now
                _report(counts, now - started, slowest)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _report(counts, time.perf_counter() - started, slowest)
    return 1 if counts["escape"] else 0


def _report(counts: dict[str, int], elapsed: float, slowest: tuple[float, int]) -> None:
    total = sum(counts.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{total:,} signed inputs in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.0f}/s): "
          f"{counts['accepted']:,} read and sampled, {counts['refused']:,} refused with "
          f"one line, {counts['escape']} escapes; slowest {slowest[0]:.2f} s "
          f"(seed {slowest[1]}); peak RSS {peak:.0f} MB", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
