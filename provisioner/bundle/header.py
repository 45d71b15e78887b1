"""The typed header of a bundle (HZG.md, "Header").

The header is a canonical msgpack map with these keys::

    generator   GeneratorInfo  who made which generator, when, until when
    model       ModelSpec      family name and its plain config
    schema      map            columns and how tokens decode (provisioner.schema)
    privacy     map            the privacy statement (provisioner.privacy)
    provenance  map            software versions that produced the bundle
    payload     PayloadInfo    codec, sizes, SHA-256 and tensor count
    signer      SignerInfo     key id and name of the signer, or nil
    extensions  map str->str   optional, free-form, signed but never acted on
    source_statistics  map     optional (1.1): NON-DP figures about the source
                               (provisioner.source_statistics)

The codec checks this level here (HZG.md step 7); ``schema``, ``privacy``
and the model's ``config`` are the bundle's content, checked next by
:mod:`provisioner.content` before the payload is read (step 10).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from provisioner.bundle.fields import Fields
from provisioner.bundle.limits import NAME_CHARS

GENERATOR_ID = re.compile(r"^[0-9a-f]{32}$")
KEY_ID_HEX = re.compile(r"^[0-9a-f]{32}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
EXTENSION_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
EXTENSION_VALUE_CHARS = 1024
# Times: Unix seconds from 1970-01-01 to 9999-12-31T23:59:59Z, so every
# reader can show them as calendar dates.
MAX_TIME = 253_402_300_799
MAX_INT63 = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    """Identity of a generator.

    Attributes:
      id: 32 lowercase hex characters, random, fixed at training time.
      name: a human label, e.g. ``"adult-2026q4"``.
      version: >= 1; a newer generator of the same (owner, name) has a
        larger version.
      owner: the party that trained and signed it.
      created_at: Unix time in seconds (UTC).
      expires_at: Unix time after which readers refuse the bundle, or None.
    """

    id: str
    name: str
    version: int
    owner: str
    created_at: int
    expires_at: int | None = None

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, fields: Fields) -> GeneratorInfo:
        info = cls(
            id=fields.string("id", pattern=GENERATOR_ID),
            name=fields.string("name", min_len=1, max_len=NAME_CHARS),
            version=fields.integer("version", minimum=1, maximum=MAX_INT63),
            owner=fields.string("owner", min_len=1, max_len=NAME_CHARS),
            created_at=fields.integer("created_at", minimum=0, maximum=MAX_TIME),
            expires_at=fields.integer("expires_at", nullable=True, minimum=0,
                                      maximum=MAX_TIME),
        )
        fields.done()
        return info


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Which model family reads the tensors, and its plain-data config."""

    family: str
    config: dict[str, Any]

    def to_plain(self) -> dict[str, Any]:
        return {"config": self.config, "family": self.family}

    @classmethod
    def from_plain(cls, fields: Fields) -> ModelSpec:
        spec = cls(
            family=fields.string("family", pattern=FAMILY_NAME),
            config=fields.mapping("config"),
        )
        fields.done()
        return spec


@dataclasses.dataclass(frozen=True)
class PayloadInfo:
    """What the payload region must be; filled in by the writer."""

    compressed_size: int
    raw_size: int
    sha256: str
    tensor_count: int
    codec: str = "zstd"

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, fields: Fields) -> PayloadInfo:
        info = cls(
            codec=fields.string("codec", choices=("zstd",)),
            compressed_size=fields.integer("compressed_size", minimum=1, maximum=MAX_INT63),
            raw_size=fields.integer("raw_size", minimum=1, maximum=MAX_INT63),
            sha256=fields.string("sha256", pattern=SHA256_HEX),
            tensor_count=fields.integer("tensor_count", minimum=0, maximum=MAX_INT63),
        )
        fields.done()
        return info


@dataclasses.dataclass(frozen=True)
class SignerInfo:
    """The key that signed the bundle, as the signer named it."""

    key_id: str
    name: str

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, fields: Fields) -> SignerInfo:
        info = cls(
            key_id=fields.string("key_id", pattern=KEY_ID_HEX),
            name=fields.string("name", min_len=1, max_len=NAME_CHARS),
        )
        fields.done()
        return info


@dataclasses.dataclass(frozen=True)
class Header:
    """Everything in the header region, typed at the container level."""

    generator: GeneratorInfo
    model: ModelSpec
    schema: dict[str, Any]
    privacy: dict[str, Any]
    provenance: dict[str, Any]
    payload: PayloadInfo
    signer: SignerInfo | None
    extensions: dict[str, str] = dataclasses.field(default_factory=dict)
    source_statistics: dict[str, Any] | None = None

    def to_plain(self) -> dict[str, Any]:
        plain = {
            "generator": self.generator.to_plain(),
            "model": self.model.to_plain(),
            "payload": self.payload.to_plain(),
            "privacy": self.privacy,
            "provenance": self.provenance,
            "schema": self.schema,
            "signer": None if self.signer is None else self.signer.to_plain(),
        }
        if self.extensions:
            plain["extensions"] = dict(self.extensions)
        if self.source_statistics is not None:
            plain["source_statistics"] = self.source_statistics
        return plain

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool) -> Header:
        fields = Fields(plain, "header", strict=strict)
        generator = GeneratorInfo.from_plain(fields.sub("generator"))
        model = ModelSpec.from_plain(fields.sub("model"))
        schema = fields.mapping("schema")
        privacy = fields.mapping("privacy")
        provenance = fields.mapping("provenance")
        payload = PayloadInfo.from_plain(fields.sub("payload"))
        signer_fields = fields.sub("signer", nullable=True)
        signer = None if signer_fields is None else SignerInfo.from_plain(signer_fields)
        extensions = fields.mapping("extensions", {})
        for key, value in extensions.items():
            if not EXTENSION_KEY.match(key):
                raise fields.error(f"header.extensions key {key[:70]!r} has the wrong form")
            if not isinstance(value, str) or len(value) > EXTENSION_VALUE_CHARS:
                raise fields.error(f"header.extensions.{key} must be a string of at most "
                                   f"{EXTENSION_VALUE_CHARS} characters")
        statistics = fields.mapping("source_statistics", None)
        if statistics is not None:
            from provisioner.source_statistics import SourceStatistics

            SourceStatistics.from_plain(statistics, strict=strict)
        fields.done()
        return cls(generator, model, schema, privacy, provenance, payload, signer,
                   extensions, statistics)
