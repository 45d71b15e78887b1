"""hzg keygen, key files, passphrases and trust stores."""

from __future__ import annotations

import re
import stat

import pytest

from provisioner import HzgError, TrustStore, key_id, load_public_key, load_signing_key
from provisioner.cli import main
from provisioner.errors import ConfigError, KeyFileError
from tests.conftest import VECTORS


def keygen(capsys, *args):
    code = main(["keygen", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_keygen_writes_pair_with_safe_modes(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HZG_KEY_PASSPHRASE", raising=False)
    code, out, err = keygen(capsys, "acme", "--dir", str(tmp_path))
    assert code == 0, err
    key_file, pub_file = tmp_path / "acme.key", tmp_path / "acme.pub"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_file.read_bytes()  # PKCS#8 PEM
    printed = re.search(r"key id\s+([0-9a-f]{32})", out).group(1)
    signing = load_signing_key(key_file)
    assert printed == signing.key_id == key_id(load_public_key(pub_file).public_key)
    assert signing.name == "acme"


def test_keygen_never_overwrites(tmp_path, capsys):
    assert keygen(capsys, "acme", "--dir", str(tmp_path))[0] == 0
    before = (tmp_path / "acme.key").read_bytes()
    code, out, err = keygen(capsys, "acme", "--dir", str(tmp_path))
    assert code == 1 and "already exists" in err and err.count("\n") == 1
    assert (tmp_path / "acme.key").read_bytes() == before


def test_passphrase_from_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HZG_KEY_PASSPHRASE", "correct horse")
    code, out, _ = keygen(capsys, "sec", "--dir", str(tmp_path))
    assert code == 0 and "encrypted" in out
    path = tmp_path / "sec.key"
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert load_signing_key(path, passphrase=b"correct horse").name == "sec"
    with pytest.raises(KeyFileError, match="encrypted"):
        load_signing_key(path)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signing_key(path, passphrase=b"wrong")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "sp ace"])
def test_bad_key_names(tmp_path, capsys, name):
    code, _, err = keygen(capsys, name, "--dir", str(tmp_path))
    assert code == 1 and "key name" in err
    assert list(tmp_path.iterdir()) == []


def test_trust_from_folder_file_and_env(tmp_path, monkeypatch):
    folder = VECTORS / "keys"
    store = TrustStore.from_paths([folder])
    assert {k.name for k in store.values()} == {"golden", "other"}
    single = TrustStore.from_paths([folder / "golden.pub"])
    assert list(single) == [load_public_key(folder / "golden.pub").key_id]
    monkeypatch.setenv("HZG_TRUST", str(folder))
    assert set(TrustStore.from_env()) == set(store)
    monkeypatch.delenv("HZG_TRUST")
    assert TrustStore.from_env() is None


def test_trust_errors_are_clear(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        TrustStore.from_paths([tmp_path / "missing.pub"])
    with pytest.raises(KeyFileError, match="no .pub files"):
        TrustStore.from_paths([tmp_path])
    with pytest.raises(KeyFileError, match="private key"):
        load_public_key(VECTORS / "keys" / "golden.key")
    bogus = tmp_path / "x.pub"
    bogus.write_text("hello")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(bogus)
    with pytest.raises(KeyFileError, match=r"\.pub file"):
        load_signing_key(VECTORS / "keys" / "golden.pub")


def test_verify_and_inspect_with_env_trust(monkeypatch, capsys):
    monkeypatch.setenv("HZG_TRUST", str(VECTORS / "keys"))
    assert main(["verify", str(VECTORS / "valid" / "kinds.hzg")]) == 0
    assert "signed by golden" in capsys.readouterr().out
    assert main(["inspect", str(VECTORS / "valid" / "kinds.hzg")]) == 0
    out = capsys.readouterr().out
    for needle in ("kinds v3", "(1, 1e-06)-DP", "color", "categorical string",
                   "pattern", "verified"):
        assert needle in out


def test_inspect_json_and_insecure_warning(capsys, monkeypatch):
    import json

    monkeypatch.delenv("HZG_TRUST", raising=False)
    path = str(VECTORS / "malformed" / "untrusted-signer.hzg")
    assert main(["inspect", path]) == 1
    assert "no trusted keys" in capsys.readouterr().err
    assert main(["inspect", path, "--json", "--insecure-skip-verify"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["verified"] is False
    assert summary["header"]["generator"]["name"] == "kinds"
    assert summary["tensors"]["out.w"]["shape"] == [8, 15]
    assert "NOT checked" in err


def test_hzg_errors_have_codes():
    assert issubclass(ConfigError, HzgError) and ConfigError.code == "config"
