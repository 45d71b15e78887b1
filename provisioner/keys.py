"""Ed25519 signing keys and the set of keys a reader trusts.

An owner makes a key pair once::

    paths = write_key_pair("acme", directory=".")   # acme.key (0600), acme.pub
    key = load_signing_key("acme.key")

and hands ``acme.pub`` to whoever will read its generators. A reader trusts a
``.pub`` file or a folder of them (``TrustStore.from_paths``), or the folder
named by the ``HZG_TRUST`` environment variable.

The key id is the first 16 bytes of SHA-256 over the raw 32-byte public key,
written as 32 hex characters; it is what a bundle names and what a trust
store is looked up by.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from provisioner._files import read_capped
from provisioner.errors import BadSignature, ConfigError, KeyFileError

TRUST_ENV = "HZG_TRUST"
PASSPHRASE_ENV = "HZG_KEY_PASSPHRASE"
# A PEM Ed25519 key is a few hundred bytes; anything much larger is not one.
KEY_FILE_LIMIT = 64 * 1024
_KEY_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def key_id(public_key: Ed25519PublicKey) -> str:
    """32 hex characters identifying ``public_key``."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:16].hex()


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key and the name its owner gave it."""

    private_key: Ed25519PrivateKey = dataclasses.field(repr=False)
    name: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), name)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


@dataclasses.dataclass(frozen=True)
class TrustedKey:
    """A public key a reader accepts signatures from."""

    public_key: Ed25519PublicKey = dataclasses.field(repr=False)
    name: str
    source: str

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is valid for ``message``; raise otherwise."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            raise BadSignature(
                f"signature does not match the bundle for key {self.key_id} "
                f"({self.name}): the file was altered after signing; get a fresh copy "
                "from its owner"
            ) from None


class TrustStore(Mapping[str, TrustedKey]):
    """Trusted public keys, looked up by key id."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[str, TrustedKey] = {}
        for key in keys:
            self._keys.setdefault(key.key_id, key)

    def __getitem__(self, kid: str) -> TrustedKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        names = ", ".join(f"{k.name}:{kid[:8]}" for kid, k in self._keys.items())
        return f"TrustStore({names})"

    @classmethod
    def from_paths(cls, paths: Iterable[str | os.PathLike[str]]) -> TrustStore:
        """Trust each ``.pub`` file given, and every ``*.pub`` in each folder given."""
        keys: list[TrustedKey] = []
        for entry in paths:
            path = Path(entry)
            if path.is_dir():
                files = sorted(path.glob("*.pub"))
                if not files:
                    raise KeyFileError(f"trust folder {path} holds no .pub files")
                keys.extend(load_public_key(file) for file in files)
            elif path.exists():  # load_public_key refuses FIFOs and devices
                keys.append(load_public_key(path))
            else:
                raise KeyFileError(
                    f"trust path {path} does not exist; give a .pub file or a folder of them"
                )
        return cls(keys)

    @classmethod
    def from_env(cls) -> TrustStore | None:
        """The store named by ``$HZG_TRUST`` (paths joined by os.pathsep), or None."""
        value = os.environ.get(TRUST_ENV, "").strip()
        if not value:
            return None
        return cls.from_paths(p for p in value.split(os.pathsep) if p)


def _check_name(name: str) -> None:
    if not name or not set(name) <= _KEY_NAME_CHARS or name.startswith("."):
        raise ConfigError(
            f"key name {name!r} must be letters, digits, '.', '_' or '-' "
            "and must not start with '.'"
        )


@dataclasses.dataclass(frozen=True)
class KeyPairPaths:
    private_key: Path
    public_key: Path
    key_id: str


def write_key_pair(
    name: str,
    directory: str | os.PathLike[str] = ".",
    *,
    passphrase: bytes | None = None,
) -> KeyPairPaths:
    """Create ``NAME.key`` (PKCS#8 PEM, mode 0600) and ``NAME.pub``.

    Existing files are never overwritten. With ``passphrase`` the private key
    is encrypted with the best scheme the cryptography library offers.
    """
    _check_name(name)
    folder = Path(directory)
    key_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; choose another name or move it")
    key = SigningKey.generate(name)
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        # O_EXCL: never follow or replace something created meanwhile; 0600 from
        # the start so the secret is never readable by others, not even briefly.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_pem)
        try:
            fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(public_pem)
        except BaseException:
            key_path.unlink(missing_ok=True)
            raise
    except FileExistsError as exc:
        raise ConfigError(f"{exc.filename} already exists") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write key files in {folder}: {exc.strerror}") from None
    return KeyPairPaths(key_path, pub_path, key.key_id)


def load_signing_key(
    path: str | os.PathLike[str], *, passphrase: bytes | None = None
) -> SigningKey:
    """Read a private key written by :func:`write_key_pair`.

    An encrypted key needs ``passphrase`` (the CLI takes it from
    ``$HZG_KEY_PASSPHRASE`` or a prompt).
    """
    path = Path(path)
    data = read_capped(path, limit=KEY_FILE_LIMIT, what="signing key", error=KeyFileError)
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(f"{path} is not a PEM private key (did you pass the .pub file?)")
    try:
        private_key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise KeyFileError(
                f"{path} is encrypted; set {PASSPHRASE_ENV} or run in a terminal to be asked"
            ) from None
        raise KeyFileError(f"{path} is not encrypted; do not give a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        hint = "wrong passphrase or " if passphrase else ""
        raise KeyFileError(f"cannot load {path}: {hint}not an Ed25519 PKCS#8 key") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(private_key).__name__}, not an Ed25519 key")
    return SigningKey(private_key, path.stem)


def is_encrypted_key_file(path: str | os.PathLike[str]) -> bool:
    try:
        data = read_capped(path, limit=KEY_FILE_LIMIT, what="signing key",
                           error=KeyFileError)
    except KeyFileError:
        return False  # load_signing_key reports why
    return b"ENCRYPTED PRIVATE KEY" in data


def load_public_key(path: str | os.PathLike[str]) -> TrustedKey:
    """Read a ``.pub`` file (SubjectPublicKeyInfo PEM)."""
    path = Path(path)
    data = read_capped(path, limit=KEY_FILE_LIMIT, what="public key", error=KeyFileError)
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path} holds a private key; trust the .pub file instead")
    try:
        public_key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(public_key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(public_key).__name__}, not an Ed25519 key")
    return TrustedKey(public_key, path.stem, str(path))
