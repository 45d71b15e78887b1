"""HZG provisioner: verify ``.hzg`` generator files and sample from them.

The light, cloud-side half of HZG. It depends on numpy, msgpack, zstandard
and cryptography only; pandas and pyarrow are used when present, and JAX
never is. ``load`` verifies one generator, ``aggregate`` mixes several;
both are RowSources with ``sample`` and ``iter_batches``.
"""

from provisioner.aggregate import Mixture
from provisioner.aggregate import aggregate
from provisioner.bundle import DEFAULT_LIMITS
from provisioner.bundle import Bundle
from provisioner.bundle import GeneratorInfo
from provisioner.bundle import Limits
from provisioner.bundle import ModelSpec
from provisioner.bundle import OpenedBundle
from provisioner.bundle import decode_bundle
from provisioner.bundle import open_bundle
from provisioner.errors import HzgError
from provisioner.generator import Generator
from provisioner.generator import load
from provisioner.keys import SigningKey
from provisioner.keys import TrustedKey
from provisioner.keys import TrustStore
from provisioner.keys import key_id
from provisioner.keys import load_public_key
from provisioner.keys import load_signing_key
from provisioner.keys import write_key_pair
from provisioner.scheme import RowSource
from provisioner.table import Table

__version__ = "0.1.0"

__all__ = (
    "Bundle",
    "DEFAULT_LIMITS",
    "Generator",
    "GeneratorInfo",
    "HzgError",
    "Limits",
    "Mixture",
    "ModelSpec",
    "OpenedBundle",
    "RowSource",
    "SigningKey",
    "Table",
    "TrustStore",
    "TrustedKey",
    "aggregate",
    "decode_bundle",
    "key_id",
    "load",
    "load_public_key",
    "load_signing_key",
    "open_bundle",
    "write_key_pair",
)
