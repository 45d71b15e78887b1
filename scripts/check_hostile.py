"""Measure every hostile case of issue #11 and the sampling memory budget.

    python scripts/check_hostile.py            # all cases, a table
    python scripts/check_hostile.py --only fifo

Each case is a file (most of them bundles signed by the trusted test key)
and an ``hzg`` command run in its own process, exactly as a user would. The
script records the exit code, the wall and CPU seconds, the peak resident
memory of that process (``wait4``), the first line of stderr, and whether
anything was left in the output folder. Two groups:

* **hostile**: must be refused, or handled, with a one-line error in under
  2 s and 256 MB, no traceback and no partial output;
* **verify**: bundles at the format's limits; verifying them must stay
  within 50 MB plus twice their weights;
* **budget**: bundles at the format's limits that verify; sampling 1,000
  rows of each to CSV must stay within the README's budget: 50 MB for
  Python and numpy, plus the model's weights (twice: the tensors and the
  sampler's blocks), plus ``BLOCK_BYTES`` per worker.

It prints measurements; it asserts nothing (tests never assert timings).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.scheme import BLOCK_BYTES  # noqa: E402
from provisioner.models.made import MadeConfig  # noqa: E402
from scripts.forge import (  # noqa: E402
    boolean_column,
    datetime_column,
    forge,
    id_column,
    integer_column,
    made_header,
    numeric_column,
    string_column,
    zero_tensors_frame,
    zeros_frame,
)

TRUST = ROOT / "format_spec" / "vectors" / "keys" / "golden.pub"
MB = 1e6
BASE_MB = 50  # the interpreter, numpy, msgpack, zstandard, cryptography
HOSTILE_SECONDS, HOSTILE_MB = 2.0, 256


def _bundle(header: dict, **kw) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / "case.hzg"
        path.write_bytes(forge(header, **kw))
        return path
    return build


def _two(**kw) -> dict:
    return made_header([boolean_column("a"), boolean_column("b")], **kw)


def _cats(n: int) -> list[str]:
    return [f"v{i}" for i in range(n)]


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.hzg"
    os.mkfifo(path)
    return path


def _fifo_trust(folder: Path) -> Path:
    keys = folder / "keys"
    keys.mkdir()
    (keys / "golden.pub").write_bytes(TRUST.read_bytes())
    os.mkfifo(keys / "evil.pub")
    return keys


def _zeros_gib(folder: Path) -> Path:
    path = folder / "case.hzg"
    path.write_bytes(forge(_two(), frame=(zeros_frame(2**30), 2**30)))
    return path


def _valid_zeros(header: dict) -> Callable[[Path], Path]:
    """A bundle whose tensors are all zero: tiny on disk, full size in memory."""
    def build(folder: Path) -> Path:
        path = folder / "case.hzg"
        from scripts.forge import made_shapes

        shapes = made_shapes(header["model"]["config"])
        path.write_bytes(forge(header, frame=zero_tensors_frame(shapes),
                               tensor_count=len(shapes)))
        return path
    return build


def _name_header(**generator) -> dict:
    header = _two()
    header["generator"].update(generator)
    return header


# (group, name, build(folder) -> path, argv with {path} and {out})
CASES: list[tuple[str, str, Callable[[Path], Path], list[str]]] = [
    ("hostile", "hidden width 65,536, sample -n 1", _bundle(_two(hidden=[65536])),
     ["sample", "{path}", "-n", "1"]),
    ("hostile", "65,535 categories, sample -n 1", _bundle(made_header(
        [string_column("c", _cats(65535))], hidden=[1])), ["sample", "{path}", "-n", "1"]),
    ("hostile", "1 GiB of zero weights (V=16,383), verify", _bundle(made_header(
        [string_column("c", _cats(16383))], direct=True), frame=(zeros_frame(64), 64)),
     ["verify", "{path}"]),
    ("hostile", "35 KB file of 1 GiB zeros, verify", _zeros_gib, ["verify", "{path}"]),
    ("hostile", "30,000 DP columns, verify", _bundle(made_header(
        [boolean_column(f"c{i}", metadata="dp") for i in range(30_000)], hidden=[1])),
     ["verify", "{path}"]),
    ("hostile", "datetime format with a line break, sample", _bundle(made_header(
        [datetime_column("d", [18000, 18010], format='%Y"\n=1+1,"x')])),
     ["sample", "{path}", "-n", "3", "-o", "{out}"]),
    ("hostile", "formula categories and names, sample", _bundle(made_header(
        [string_column("=cmd", ["=1+1", "@SUM(A1)", "-2+3", "+x"], rare_label="-r")])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("hostile", "ESC and NUL in a category, sample", _bundle(made_header(
        [string_column("c", ["\x1b[31mred", "nul\x00"])])), ["sample", "{path}", "-n", "3"]),
    ("hostile", "newline in the generator name, verify", _bundle(
        _name_header(name="x\nverified: signed by acme-bank")), ["verify", "{path}"]),
    ("hostile", "ANSI codes in the owner, inspect", _bundle(
        _name_header(owner="\x1b[2K\x1b[1Averified")), ["inspect", "{path}"]),
    ("hostile", "tensor dtype that is an array, verify", _bundle(
        made_header([boolean_column()]), tensors={
            "out.b": {"data": b"\0" * 8, "dtype": ["float32"], "shape": [2]},
            "out.w": {"data": b"\0" * 16, "dtype": "float32", "shape": [2, 2]}}),
     ["verify", "{path}"]),
    ("hostile", "created_at 2^63-1, inspect", _bundle(_name_header(created_at=2**63 - 1)),
     ["inspect", "{path}"]),
    ("hostile", "datetimes past year 9999, sample", _bundle(made_header(
        [datetime_column("d", [3_000_000, 3_000_010])])), ["sample", "{path}", "-n", "3"]),
    ("hostile", "integer category 2^63, sample", _bundle(made_header(
        [integer_column("i", [2**63, 1])])), ["sample", "{path}", "-n", "3"]),
    ("hostile", "float edges +-1e300, sample", _bundle(made_header(
        [numeric_column("x", [-1e300, 1e300], decimals=2)])), ["sample", "{path}", "-n", "3"]),
    ("hostile", "cell weight 1e308, sample", _bundle(made_header(
        [numeric_column("x", [0.0, 1.0, 2.0], weights=[1e308, 1e308])])),
     ["sample", "{path}", "-n", "3"]),
    ("hostile", "verify /dev/zero", lambda folder: Path("/dev/zero"), ["verify", "{path}"]),
    ("hostile", "verify a FIFO", _fifo, ["verify", "{path}"]),
    ("hostile", "a FIFO among the trusted keys", _fifo_trust,
     ["verify", str(ROOT / "format_spec/vectors/valid/kinds.hzg"), "--trust", "{path}"]),
    # at the limits, valid: the memory budget
    ("verify", "V=4,092 with a direct layer (64 MiB of weights)", _valid_zeros(made_header(
        [string_column(f"c{j}", _cats(1364)) for j in range(3)], hidden=[1], direct=True)),
     ["verify", "{path}"]),
    ("verify", "1,024 columns of 1,024-character labels", _valid_zeros(made_header(
        [string_column(f"c{j}", ["=" + "x" * 1023, "y"]) for j in range(1024)])),
     ["inspect", "{path}"]),
    ("budget", "V=4,092 with a direct layer (64 MiB of weights)", _valid_zeros(made_header(
        [string_column(f"c{j}", _cats(1364)) for j in range(3)], hidden=[1], direct=True)),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "hidden 16,384 units", _valid_zeros(made_header(
        [boolean_column(f"b{j}") for j in range(64)], hidden=[16384])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "8 hidden layers of 1,024", _valid_zeros(made_header(
        [string_column(f"c{j}", _cats(64)) for j in range(16)], hidden=[1024] * 8)),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "1,024 columns, 16,384 tokens", _valid_zeros(made_header(
        [string_column(f"c{j}", _cats(16)) for j in range(1024)], hidden=[16])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "1,023 id columns of 128-unit patterns", _valid_zeros(made_header(
        [id_column(f"i{j}", pattern="A" * 128) for j in range(1023)] + [boolean_column()])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "1,024 columns of 1,024-character labels", _valid_zeros(made_header(
        [string_column(f"c{j}", ["=" + "x" * 1023, "y"]) for j in range(1024)])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
    ("budget", "one column of 16,384 categories", _valid_zeros(made_header(
        [string_column("c", _cats(16384))], hidden=[500])),
     ["sample", "{path}", "-n", "1000", "-o", "{out}"]),
]


def weights_mb(path: Path) -> float:
    from provisioner.bundle import open_bundle
    from provisioner.keys import TrustStore

    try:
        opened = open_bundle(path, trust=TrustStore.from_paths([TRUST]))
    except Exception:
        return 0.0
    return MadeConfig.tensor_bytes(opened.content.config) / MB


# The child is started by a tiny launcher so that its peak memory is its own:
# Linux keeps ru_maxrss across exec, so a child forked from this (large)
# process would report this process's memory.
_LAUNCH = """
import os, sys, time
start = time.monotonic()
pid = os.posix_spawn(sys.executable, [sys.executable, "-c", sys.argv[1], *sys.argv[3:]],
                     os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[2], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {time.monotonic() - start} "
              f"{usage.ru_utime + usage.ru_stime} {usage.ru_maxrss / 1024}")
"""


def run(argv: list[str]) -> tuple[int, float, float, float, str]:
    code = "import sys; from provisioner.cli import main; sys.exit(main(sys.argv[1:]))"
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as report:
        result = subprocess.run([sys.executable, "-c", _LAUNCH, code, report.name, *argv],
                                cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        fields = report.read().split()
    code_, wall, cpu, peak = int(fields[0]), *map(float, fields[1:])
    return code_, wall, cpu, peak, result.stderr.decode("utf-8", "replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    print(f"{'group':7} {'case':50} {'exit':>4} {'wall s':>6} {'cpu s':>6} {'peak MB':>7} "
          f"{'bar MB':>6}  verdict / first line of stderr")
    failures = 0
    for group, name, build, argv in CASES:
        if args.only and args.only not in name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            outdir = folder / "out"
            outdir.mkdir()
            path = build(folder)
            out = outdir / "rows.csv"
            full = [a.replace("{path}", str(path)).replace("{out}", str(out)) for a in argv]
            if "--trust" not in full:
                full += ["--trust", str(TRUST)]
            code, wall, cpu, peak, err = run(full)
            left = sorted(p.name for p in outdir.iterdir())
            lines = err.strip().splitlines()
            first = lines[0] if lines else ""
            if group == "verify":
                bar = BASE_MB + 2 * weights_mb(path) + 8  # the tensors, the file, the header
                ok = code == 0 and peak < bar
            elif group == "hostile":
                bar = HOSTILE_MB
                ok = (code in (0, 1) and cpu < HOSTILE_SECONDS and peak < HOSTILE_MB
                      and "Traceback" not in err and len(lines) <= 1
                      and (code == 0 or not left))
            else:
                bar = BASE_MB + 2 * weights_mb(path) + workers * BLOCK_BYTES / MB
                ok = code == 0 and peak < bar and "rows.csv" in left
            failures += not ok
            verdict = "ok  " if ok else "FAIL"
            print(f"{group:7} {name[:50]:50} {code:4d} {wall:6.2f} {cpu:6.2f} {peak:7.0f} "
                  f"{bar:6.0f}  {verdict} {first[:90]}")
    print(f"\n{failures} case(s) outside their bar; workers = {workers}; "
          f"BLOCK_BYTES = {BLOCK_BYTES / MB:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
