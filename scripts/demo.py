"""The README's first command: train, sign, verify and sample, start to finish.

    python scripts/demo.py [--epsilon 1.0] [--rows 20] [--out demo-out]

Plays both sides of HZG on the shipped example table (UCI Adult,
examples/adult.csv.gz): the data owner makes a key and trains a signed
generator with differential privacy; a lab that holds only the public key
verifies it and samples rows, using the light provisioner package alone.
Every step runs the real `hzg` command line, as a user would.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult.csv.gz"


def hzg(*args: str) -> None:
    command = [sys.executable, "-m", "provisioner.cli", *args]
    print(f"\n$ hzg {' '.join(args)}", flush=True)
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"demo: 'hzg {args[0]}' failed with exit code {result.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epsilon", default="1.0")
    parser.add_argument("--rows", default="20", help="rows to print at the end")
    parser.add_argument("--out", default=str(ROOT / "demo-out"), help="working folder")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    owner, lab = out / "owner", out / "lab"
    owner.mkdir(parents=True)
    lab.mkdir()
    print("== On-prem: the data owner ==")
    print(f"table: {EXAMPLE.relative_to(ROOT)} (UCI Adult, 32,561 people, 15 columns)")
    hzg("keygen", "acme", "--dir", str(owner))
    hzg("train", str(EXAMPLE), "--key", str(owner / "acme.key"),
        "--out", str(owner / "adult.hzg"), "--epsilon", args.epsilon, "--name", "adult-demo")
    shutil.copy(owner / "adult.hzg", lab / "adult.hzg")
    shutil.copy(owner / "acme.pub", lab / "acme.pub")
    print("\n== In the lab: only adult.hzg and acme.pub arrive ==")
    hzg("verify", str(lab / "adult.hzg"), "--trust", str(lab / "acme.pub"))
    hzg("inspect", str(lab / "adult.hzg"), "--trust", str(lab / "acme.pub"))
    hzg("sample", str(lab / "adult.hzg"), "--trust", str(lab / "acme.pub"), "-n", "100000",
        "--seed", "7", "-o", str(lab / "synthetic.csv"))
    hzg("sample", str(lab / "adult.hzg"), "--trust", str(lab / "acme.pub"), "-n", args.rows,
        "--seed", "7", "--where", "income=>50K")
    print(f"\nDone. Files are in {out}: the bundle, the keys and 100,000 synthetic rows.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
