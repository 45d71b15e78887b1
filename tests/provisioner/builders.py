"""Small signed generators with chosen columns, for sampling and aggregation tests.

The weights are random (masked as MADE requires), so rows are arbitrary but
real: they go through the same codec, verification and sampler as any
bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

from provisioner.bundle import Bundle, GeneratorInfo, ModelSpec, decode_bundle
from provisioner.generator import Generator
from provisioner.keys import SigningKey, TrustedKey, TrustStore
from provisioner.models.made import MadeConfig, masks, tensor_shapes
from provisioner.privacy import Mechanism, Phase, PrivacyStatement
from provisioner.schema import Column, Grid, Schema

CREATED_AT = 1_795_000_000


def key(label: str) -> SigningKey:
    seed = hashlib.sha256(f"hzg aggregation test key: {label}".encode()).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed), label)


def trust(*keys: SigningKey) -> TrustStore:
    return TrustStore([TrustedKey(k.public_key, k.name, "test") for k in keys])


def write_pub(signing_key: SigningKey, folder: Path) -> Path:
    path = folder / f"{signing_key.name}.pub"
    path.write_bytes(signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def categorical(name: str, categories: Sequence, *, rare: str | None = None,
                nullable: bool = False, value_type: str = "string") -> Column:
    return Column(name, "categorical", value_type, nullable, "dp",
                  categories=tuple(categories), rare_label=rare)


def text(name: str, categories: Sequence, *, filler: str = "te\\xt-aaaaaaaa",
         nullable: bool = False) -> Column:
    """A text column: frequent values, and a filler for every other row."""
    return Column(name, "categorical", "string", nullable, "dp",
                  categories=tuple(categories), rare_label="__rare__", filler=filler)


def numeric(name: str, edges: Sequence[float], *, value_type: str = "integer",
            decimals: int = 0, nullable: bool = False) -> Column:
    cells = len(edges) - 1
    return Column(name, "numeric", value_type, nullable, "dp", decimals=decimals,
                  grid=Grid(tuple(float(e) for e in edges), (1.0,) * cells,
                            tuple(range(cells))))


def datetime(name: str, lo: int, hi: int, unit: str = "D") -> Column:
    return Column(name, "datetime", "datetime", False, "dp", unit=unit,
                  grid=Grid((float(lo), float((lo + hi) // 2), float(hi)), (1.0, 1.0), (0, 1)))


def sequence_id(name: str) -> Column:
    return Column(name, "id", "integer", False, "dp", style="sequence")


def pattern_id(name: str, pattern: str) -> Column:
    return Column(name, "id", "string", False, "dp", style="pattern", pattern=pattern)


def bundle(columns: Sequence[Column], *, rows: int | None = 1000, dp: bool = True,
           name: str = "gen", owner: str = "owner", seed: int = 0,
           bias: Sequence[float] | None = None, expires_at: int | None = None) -> Bundle:
    """A bundle of ``columns`` with random weights (``bias``: the output biases)."""
    if not dp:
        columns = [Column(**{**c.__dict__, "metadata": "exact"}) for c in columns]
    schema = Schema(tuple(columns), rows=rows)
    config = MadeConfig(tuple(c.num_tokens for c in schema.modelled), hidden=(8,))
    rng = np.random.default_rng(seed)
    mask = masks(config)
    tensors = {}
    for tensor, shape in tensor_shapes(config).items():
        values = rng.normal(0, 1.0, size=shape).astype(np.float32)
        tensors[tensor] = values * mask[tensor] if tensor in mask else values
    if bias is not None:
        tensors["out.b"] = np.asarray(bias, dtype=np.float32)
    if dp:
        covered = tuple(c.name for c in columns if c.metadata == "dp")
        privacy = PrivacyStatement(
            dp=True, epsilon=1.0, delta=1e-6, accountant="pld",
            accountant_library="dp-accounting 0.6.0", phases=(Phase("main", 1.0, 1e-6),),
            mechanisms=(Mechanism("metadata", "main", "gaussian", {"noise_multiplier": 9.0},
                                  covered),
                        Mechanism("dp-sgd", "main", "poisson_subsampled_gaussian",
                                  {"noise_multiplier": 1.0})))
    else:
        privacy = PrivacyStatement.non_private()
    generator_id = hashlib.sha256(f"{owner}/{name}/{seed}".encode()).hexdigest()[:32]
    return Bundle(GeneratorInfo(generator_id, name, 1, owner, CREATED_AT, expires_at),
                  ModelSpec("made", config.to_plain()), schema.to_plain(),
                  privacy.to_plain(), {"software": "tests"}, tensors)


def generator(columns: Sequence[Column], signing_key: SigningKey | None = None,
              **options) -> Generator:
    """A verified Generator, as a lab would get it from a signed file."""
    signing_key = signing_key or key(options.get("owner", "owner"))
    data = bundle(columns, **options).to_bytes(signing_key)
    return Generator.from_opened(decode_bundle(data, trust=trust(signing_key),
                                               now=CREATED_AT + 60))
