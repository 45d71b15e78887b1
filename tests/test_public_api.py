"""Public API hygiene and the light-install promise."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGES = ["provisioner", "provisioner.bundle", "provisioner.models", "trainer",
            "trainer.dp"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_resolvable(name):
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for attribute in exported:
        assert getattr(module, attribute) is not None


def test_import_provisioner_pulls_no_heavy_module():
    code = ("import sys, json, provisioner, provisioner.cli, provisioner.generator;"
            "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    loaded = set(json.loads(result.stdout))
    assert not loaded & {"jax", "jaxlib", "optax", "pandas", "trainer", "dp_accounting",
                         "torch", "pyarrow", "dask", "distributed"}


def test_hzg_help_lists_every_verb_without_heavy_imports():
    code = ("import sys, contextlib, io, provisioner.cli as c\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try: c.main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(buf.getvalue()); print('jax' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    for verb in ("keygen", "verify", "inspect", "sample", "aggregate", "train", "budget",
                 "schema"):
        assert verb in result.stdout
    assert result.stdout.strip().endswith("False")
