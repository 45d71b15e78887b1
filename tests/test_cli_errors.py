"""Ordinary failures, tried as a new user would: one line, exit 1 or 2, nothing left.

Every command runs in a real process (``python -m provisioner.cli``), so
what is checked is what a user sees: the exit code, stderr, and the files
in the folder afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, VECTORS

GOOD = VECTORS / "valid" / "kinds.hzg"
TRUST = ["--trust", str(VECTORS / "keys" / "golden.pub")]


def hzg(*args: str, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout: float = 120,
        env: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {prelude}from provisioner.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, stdin=stdin,
                          stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=env)


def one_line_error(result: subprocess.CompletedProcess, *needles: str, code: int = 1) -> None:
    err = result.stderr
    assert result.returncode == code, (result.returncode, err)
    assert err.startswith("hzg: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- outputs ----------------------------------------------------------------

def test_sample_into_a_missing_folder(tmp_path):
    result = hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(tmp_path / "no" / "x.csv"))
    one_line_error(result, "does not exist")
    assert leftovers(tmp_path) == []


def test_sample_never_overwrites_without_force(tmp_path):
    out = tmp_path / "rows.csv"
    out.write_text("precious\n")
    one_line_error(hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(out)),
                   "already exists", "--force")
    assert out.read_text() == "precious\n"
    result = hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 6
    assert leftovers(tmp_path) == ["rows.csv", "rows.csv.provenance.json"]
    one_line_error(hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(out)),
                   "already exists", "--force")  # the provenance is guarded too


def test_sample_into_a_folder_or_an_unwritable_place(tmp_path):
    (tmp_path / "d.csv").mkdir()
    one_line_error(hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(tmp_path / "d.csv")),
                   "is a folder")
    one_line_error(hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", "/proc/hzg-rows.csv"),
                   "cannot write")


def test_sample_to_a_full_disk(tmp_path):
    with open("/dev/full", "w") as full:
        result = hzg("sample", str(GOOD), *TRUST, "-n", "50000", stdout=full)
    one_line_error(result, "No space left")


def test_full_disk_while_writing_a_file_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from provisioner import sinks
    from provisioner.cli import main

    class Full:
        def __init__(self, *args, **kwargs):
            self.inner = open(*args, **kwargs)

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

    monkeypatch.setattr(sinks, "open", Full, raising=False)
    out = tmp_path / "rows.csv"
    assert main(["sample", str(GOOD), *TRUST, "-n", "50", "-o", str(out)]) == 1
    assert leftovers(tmp_path) == []


# --- inputs that are not regular files --------------------------------------

def test_verify_refuses_devices_and_fifos_at_once(tmp_path):
    fifo = tmp_path / "pipe.hzg"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        start = time.monotonic()
        one_line_error(hzg("verify", path, *TRUST, timeout=30))
        assert time.monotonic() - start < 30


def test_a_fifo_among_trusted_keys_is_refused(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "golden.pub").write_bytes((VECTORS / "keys" / "golden.pub").read_bytes())
    os.mkfifo(keys / "evil.pub")
    one_line_error(hzg("verify", str(GOOD), "--trust", str(keys), timeout=30),
                   "evil.pub", "not a regular file")
    one_line_error(hzg("verify", str(GOOD), "--trust", str(keys / "evil.pub"), timeout=30),
                   "not a regular file")


def test_missing_bundle_and_usage_errors():
    one_line_error(hzg("verify", "nope.hzg", *TRUST), "cannot read")
    result = hzg("sample", str(GOOD))
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_keygen_passphrase_without_a_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HZG_KEY_PASSPHRASE"}
    one_line_error(hzg("keygen", "k", "--dir", str(tmp_path), "--passphrase", env=env),
                   "HZG_KEY_PASSPHRASE")
    assert leftovers(tmp_path) == []


# --- interrupted and killed runs --------------------------------------------

def _interruptible() -> None:
    # A shell that starts pytest in the background sets SIGINT to "ignore", and an
    # ignored signal stays ignored across exec: restore the default so the child
    # behaves as it would under a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_long_sample(out: Path) -> subprocess.Popen:
    code = "import sys; from provisioner.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "sample", str(GOOD), *TRUST,
                             "-n", "50000000", "-o", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_interruptible)


def _wait_for_temp(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".hzg-tmp") for p in folder.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the writing loop


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_sampling_cleanly(tmp_path, sig, code):
    process = _start_long_sample(tmp_path / "rows.csv")
    _wait_for_temp(tmp_path, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_temp_files_of_a_killed_run_are_removed_by_the_next(tmp_path):
    process = _start_long_sample(tmp_path / "rows.csv")
    _wait_for_temp(tmp_path, process)
    process.kill()
    process.communicate()
    assert [p for p in leftovers(tmp_path) if p.endswith(".hzg-tmp")]  # SIGKILL: it stays
    result = hzg("sample", str(GOOD), *TRUST, "-n", "5", "-o", str(tmp_path / "rows.csv"))
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path) == ["rows.csv", "rows.csv.provenance.json"]


# --- trainer verbs (no training happens: each fails before) -----------------

@pytest.fixture()
def owner(tmp_path):
    assert hzg("keygen", "owner", "--dir", str(tmp_path)).returncode == 0
    data = tmp_path / "t.csv"
    data.write_text("age,g\n" + "".join(f"{20 + i % 50},{'ab'[i % 2]}\n" for i in range(60)))
    return tmp_path, data, tmp_path / "owner.key"


def test_train_out_is_checked_before_training(owner):
    folder, data, key = owner
    (folder / "dir.hzg").mkdir()
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", str(folder / "dir.hzg")),
                   "is a folder")
    existing = folder / "old.hzg"
    existing.write_bytes(GOOD.read_bytes())
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", str(existing)),
                   "already exists", "--force")
    assert existing.read_bytes() == GOOD.read_bytes()
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", "/proc/x.hzg"),
                   "cannot write")


def test_train_refuses_what_a_reader_would_refuse_before_training(owner):
    folder, _, key = owner
    data = folder / "wide.csv"
    name = "c" * 300
    data.write_text(f"{name},g\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(60)))
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", str(folder / "m.hzg")),
                   "longer than 256")
    assert not (folder / "m.hzg").exists()


def test_epsilon_beyond_accounting(owner):
    folder, data, key = owner
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", str(folder / "m.hzg"),
                       "--epsilon", "1e9", "--allow-large-epsilon"), "epsilon")


def test_schema_output_into_a_missing_folder(owner):
    folder, data, _ = owner
    one_line_error(hzg("schema", str(data), "-o", str(folder / "no" / "s.toml")),
                   "does not exist")


def test_a_light_install_names_the_train_extra(owner):
    folder, data, key = owner
    block = "sys.modules['jax'] = None; "  # what an install without [train] looks like
    one_line_error(hzg("train", str(data), "--key", str(key), "--out", str(folder / "m.hzg"),
                       prelude=block), "hzg[train]", "jax")
