"""The one bundle codec: build, sign and write; read, verify and decode.

Reading follows the order fixed by HZG.md ("Reading a bundle"): the fixed
prefix and lengths, then the signature over the raw bytes, then the header
msgpack and its content (schema, privacy statement, model, cost limits),
and only then the zstd frame and the payload. Nothing is decompressed or
decoded before the signature has been checked, nothing is decompressed
before the header says the model fits the limits, and every size is
checked before memory is allocated for it.

Writing runs the same reader over the bytes it is about to write: the
writer can never emit a file that this reader refuses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from provisioner._atomic import atomic_output
from provisioner._files import read_capped
from provisioner.bundle import layout
from provisioner.bundle.canonical import decode_header, decode_payload, pack_canonical
from provisioner.bundle.fields import Fields
from provisioner.bundle.header import (
    GeneratorInfo,
    Header,
    ModelSpec,
    PayloadInfo,
    SignerInfo,
)
from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.bundle.tensors import decode_tensors, encode_tensors
from provisioner.errors import (
    BadSignature,
    BundleError,
    ConfigError,
    BundleExpired,
    DigestMismatch,
    LengthMismatch,
    LimitExceeded,
    MalformedHeader,
    MalformedPayload,
    NotABundle,
    TruncatedBundle,
    UnsignedBundle,
    UnsupportedVersion,
    UntrustedSigner,
)
from provisioner.keys import SigningKey, TrustedKey, TrustStore

ZSTD_LEVEL = 9
# Readers tolerate this much clock difference when checking expires_at.
EXPIRY_SKEW_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class Bundle:
    """The content of a generator file, before signing or after reading.

    Attributes:
      generator: identity and lifetime.
      model: family name and config; the family's numpy twin reads tensors.
      schema: plain-data column schema (see provisioner.schema).
      privacy: plain-data privacy statement (see provisioner.privacy).
      provenance: software versions that produced the bundle.
      tensors: model weights by name.
      extensions: free-form strings; signed, shown, never acted on.
      source_statistics: optional NON-DP figures about the source, in a
        section of their own (see provisioner.source_statistics).
    """

    generator: GeneratorInfo
    model: ModelSpec
    schema: dict[str, Any]
    privacy: dict[str, Any]
    provenance: dict[str, Any]
    tensors: Mapping[str, np.ndarray]
    extensions: dict[str, str] = dataclasses.field(default_factory=dict)
    source_statistics: dict[str, Any] | None = None

    def to_bytes(self, signing_key: SigningKey) -> bytes:
        """Encode and sign with ``signing_key``, then read it back as a reader would.

        Raises:
          BundleError: the bundle breaks a rule of the format; the message
            names it (nothing a reader refuses is ever returned).
        """
        if not isinstance(signing_key, SigningKey):
            raise TypeError("signing_key must be a provisioner.SigningKey")
        return _encode(self, signing_key)

    def to_unsigned_bytes(self) -> bytes:
        """Encode without a signature; readers refuse it unless told to skip checks."""
        return _encode(self, None)

    def save(self, path: str | os.PathLike[str], signing_key: SigningKey, *,
             overwrite: bool = False) -> Path:
        """Sign, validate and write atomically: the file at ``path`` is whole or absent.

        An existing file is replaced only with ``overwrite=True``.
        """
        data = self.to_bytes(signing_key)
        return write_atomic(path, data, overwrite=overwrite, what="bundle")


@dataclasses.dataclass(frozen=True)
class OpenedBundle:
    """A bundle read from bytes, with what the reader established about it.

    Attributes:
      header: the full header, including payload info and signer.
      tensors: decoded, read-only arrays.
      trusted_key: the trusted key whose signature was verified, or None when
        verification was skipped on request.
      file_size: bytes in the file.
      minor_version: the file's minor format version; content of a newer
        minor version than this reader's is parsed leniently.
      data: the bundle's bytes as read (what a sampler ships to workers,
        which verify them again).
      content: the checked schema, privacy statement and model config.
      sampler: the model family's sampler over the checked tensors.
    """

    header: Header
    tensors: Mapping[str, np.ndarray]
    trusted_key: TrustedKey | None
    file_size: int
    minor_version: int = layout.FORMAT_MINOR
    data: bytes = dataclasses.field(default=b"", repr=False)
    content: Any = dataclasses.field(default=None, repr=False)  # provisioner.content.Content
    sampler: Any = dataclasses.field(default=None, repr=False)  # checked against the tensors

    @property
    def strict(self) -> bool:
        """Whether unknown keys are errors (they are, up to this reader's minor)."""
        return self.minor_version <= layout.FORMAT_MINOR

    @property
    def verified(self) -> bool:
        return self.trusted_key is not None

    @property
    def bundle(self) -> Bundle:
        h = self.header
        return Bundle(h.generator, h.model, h.schema, h.privacy, h.provenance,
                      self.tensors, h.extensions, h.source_statistics)


def _encode(bundle: Bundle, signing_key: SigningKey | None) -> bytes:
    try:
        tensors = encode_tensors(bundle.tensors)
        raw = pack_canonical({"tensors": tensors})
    except ValueError as exc:
        raise MalformedPayload(f"cannot write this bundle: {exc}") from None
    if len(raw) > DEFAULT_LIMITS.max_decompressed_bytes:
        raise LimitExceeded(
            f"cannot write this bundle: its tensors take {len(raw):,} bytes, above the "
            f"format's limit {DEFAULT_LIMITS.max_decompressed_bytes:,}; use a smaller model")
    compressed = zstandard.ZstdCompressor(
        level=ZSTD_LEVEL, write_checksum=True, write_content_size=True
    ).compress(raw)
    header = Header(
        generator=bundle.generator,
        model=bundle.model,
        schema=bundle.schema,
        privacy=bundle.privacy,
        provenance=bundle.provenance,
        payload=PayloadInfo(
            compressed_size=len(compressed),
            raw_size=len(raw),
            sha256=hashlib.sha256(compressed).hexdigest(),
            tensor_count=len(tensors),
        ),
        signer=None if signing_key is None else SignerInfo(signing_key.key_id, signing_key.name),
        extensions=dict(bundle.extensions),
        source_statistics=bundle.source_statistics,
    )
    try:
        header_bytes = pack_canonical(header.to_plain())
    except ValueError as exc:
        raise MalformedHeader(f"cannot write this bundle: {exc}") from None
    signed = layout.pack_prefix(len(header_bytes), len(compressed)) + header_bytes + compressed
    if signing_key is None:
        block = bytes(layout.SIGNATURE_BLOCK_SIZE)
    else:
        signature = signing_key.sign(layout.SIGNATURE_CONTEXT + signed)
        block = bytes.fromhex(signing_key.key_id) + signature
    data = signed + block
    # The writer is the reader's first customer: every check a reader runs,
    # container and content, runs here on the exact bytes, so nothing is
    # written that a reader would refuse.
    try:
        decode_bundle(data, trust=None, insecure_skip_verify=True, now=0.0)
    except BundleError as exc:
        raise type(exc)(f"cannot write this bundle, a reader would refuse it: {exc}") \
            from None
    return data


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True,
                 what: str = "output") -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    target = Path(path)
    with atomic_output(target, overwrite=overwrite, what=what) as temp, \
            open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return target


def decode_bundle(
    data: bytes,
    *,
    trust: TrustStore | None,
    insecure_skip_verify: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    now: float | None = None,
) -> OpenedBundle:
    """Verify and decode a whole bundle held in memory, content included.

    Args:
      data: the file's bytes.
      trust: keys whose signatures are accepted. Required unless
        ``insecure_skip_verify``.
      insecure_skip_verify: read an unsigned or untrusted bundle without
        checking its signature. Everything else is still checked.
      limits: reader limits (defaults: the format's maxima).
      now: Unix time used for the expiry check (default: the clock).

    Raises:
      BundleError or SignatureError (both ``HzgError``) naming the problem.
    """
    from provisioner.content import check_content  # content sits above the codec

    if not isinstance(data, bytes):
        try:
            data = bytes(memoryview(data))
        except TypeError:
            raise ConfigError(f"decode_bundle needs the file's bytes, not "
                              f"{type(data).__name__}") from None
    view = memoryview(data)
    # 1-2. magic and prefix
    magic = layout.MAGIC
    if not data or data[: len(magic)] != magic[: min(len(data), len(magic))]:
        raise NotABundle("not an HZG bundle: the file does not start with the HZG magic bytes")
    if len(data) < layout.PREFIX_SIZE:
        raise TruncatedBundle(
            f"bundle is truncated: {len(data)} bytes, shorter than the "
            f"{layout.PREFIX_SIZE}-byte prefix; get a complete copy"
        )
    prefix = layout.unpack_prefix(data)
    if prefix.major != layout.FORMAT_MAJOR:
        raise UnsupportedVersion(
            f"bundle format {prefix.major}.{prefix.minor} is not readable by this reader "
            f"(format {layout.FORMAT_MAJOR}.x); "
            + ("upgrade hzg" if prefix.major > layout.FORMAT_MAJOR else "the file is corrupt")
        )
    strict = prefix.minor <= layout.FORMAT_MINOR
    # 3-4. region lengths, then the file's length
    _check_length("header", prefix.header_length, limits.max_header_bytes)
    _check_length("payload", prefix.payload_length, limits.max_payload_bytes)
    header_end = layout.PREFIX_SIZE + prefix.header_length
    payload_end = header_end + prefix.payload_length
    total = payload_end + layout.SIGNATURE_BLOCK_SIZE
    if len(data) < total:
        raise TruncatedBundle(
            f"bundle is truncated: {len(data)} bytes where its prefix declares {total}; "
            "get a complete copy"
        )
    if len(data) > total:
        raise LengthMismatch(
            f"bundle has {len(data) - total} bytes after the signature block; "
            "the file was altered or concatenated"
        )

    # 5. The signature, over raw bytes, before anything is parsed.
    key_id_bytes = data[payload_end : payload_end + layout.KEY_ID_SIZE]
    signature = data[payload_end + layout.KEY_ID_SIZE : total]
    signer_id = None if key_id_bytes == layout.UNSIGNED_KEY_ID else key_id_bytes.hex()
    trusted_key = None
    if signer_id is None:
        if signature != bytes(layout.SIGNATURE_SIZE):
            raise BadSignature("signature block names no key but holds a signature; "
                               "the file is corrupt")
        if not insecure_skip_verify:
            raise UnsignedBundle(
                "bundle is not signed; ask its owner for a signed copy, or pass "
                "--insecure-skip-verify to read it anyway"
            )
    elif not insecure_skip_verify:
        if trust is None or len(trust) == 0:
            raise UntrustedSigner(
                f"bundle is signed by key {signer_id} but no trusted keys were given; "
                "pass --trust OWNER.pub (or a folder) or set HZG_TRUST"
            )
        trusted_key = trust.get(signer_id)
        if trusted_key is None:
            raise UntrustedSigner(
                f"bundle is signed by key {signer_id}, which is not among the "
                f"{len(trust)} trusted key(s); add its owner's .pub with --trust"
            )
        trusted_key.verify(signature, layout.SIGNATURE_CONTEXT + view[:payload_end])

    # 6-7. The header: canonical msgpack, then its schema.
    plain = decode_header(data[layout.PREFIX_SIZE:header_end], limits=limits)
    header = Header.from_plain(plain, strict=strict)
    # 8. The signer named inside matches the signature block.
    header_signer = None if header.signer is None else header.signer.key_id
    if header_signer != signer_id:
        raise MalformedHeader(
            f"header names signer {header_signer} but the signature block names {signer_id}"
        )
    # 9. Expiry.
    expires_at = header.generator.expires_at
    clock = time.time() if now is None else now
    if expires_at is not None and clock > expires_at + EXPIRY_SKEW_SECONDS:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
        raise BundleExpired(
            f"generator {header.generator.name!r} expired at {stamp}; ask its owner "
            "for a current one"
        )
    # 10. Content: cost limits, schema, privacy statement, model config. From
    # here on, what the payload may cost is known and bounded.
    content = check_content(header, strict=strict, limits=limits)

    # 11-13. The payload region against the header's claims, then decompress.
    payload = view[header_end:payload_end]
    info = header.payload
    if info.compressed_size != len(payload):
        raise DigestMismatch(
            f"payload is {len(payload)} bytes but the header says {info.compressed_size}"
        )
    if hashlib.sha256(payload).hexdigest() != info.sha256:
        raise DigestMismatch("payload SHA-256 does not match the header; the file is corrupt")
    if info.raw_size > limits.max_decompressed_bytes:
        raise LimitExceeded(
            f"payload would decompress to {info.raw_size} bytes, above the limit "
            f"{limits.max_decompressed_bytes}"
        )
    raw = _decompress(payload, info.raw_size, limits)
    # 14. The payload map and its tensors (views of ``raw``: no copies).
    body = Fields(decode_payload(raw, limits=limits), "payload", strict=strict,
                  error=MalformedPayload)
    plain_tensors = body.raw("tensors")
    body.done()
    tensors = decode_tensors(plain_tensors, limits, strict=strict)
    if len(tensors) != info.tensor_count:
        raise MalformedPayload(
            f"payload holds {len(tensors)} tensors but the header says {info.tensor_count}"
        )
    # 15. The tensors against the model: names, shapes, masks.
    sampler = content.sampler(tensors)
    return OpenedBundle(header, tensors, trusted_key, len(data), prefix.minor, data,
                        content, sampler)


def _check_length(region: str, length: int, limit: int) -> None:
    if length == 0:
        raise (MalformedHeader if region == "header" else MalformedPayload)(
            f"{region} length is 0; the file is corrupt"
        )
    if length > limit:
        raise LimitExceeded(f"{region} length {length} is above the limit {limit}")


def _decompress(payload: memoryview, raw_size: int, limits: Limits) -> bytes:
    """One zstd frame, exactly, declaring ``raw_size`` bytes (checked first)."""
    frame = bytes(payload[:18])  # the frame header is at most 18 bytes
    if frame[:4] != b"\x28\xb5\x2f\xfd":
        raise MalformedPayload("payload is not a zstd frame (skippable frames and other "
                               "data are not allowed)")
    try:
        params = zstandard.get_frame_parameters(frame)
    except zstandard.ZstdError as exc:
        raise MalformedPayload(f"payload is not a zstd frame: {exc}") from None
    if params.content_size in (zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR):
        raise MalformedPayload("payload zstd frame does not declare its content size")
    if params.content_size != raw_size:
        raise DigestMismatch(
            f"zstd frame declares {params.content_size} bytes but the header says {raw_size}"
        )
    if params.window_size > limits.max_window_bytes:
        raise LimitExceeded(
            f"zstd frame needs a {params.window_size}-byte window, above the limit "
            f"{limits.max_window_bytes}"
        )
    if params.dict_id != 0:
        raise MalformedPayload("payload zstd frame needs a dictionary; none is defined")
    try:
        decompressor = zstandard.ZstdDecompressor(max_window_size=limits.max_window_bytes)
        raw = decompressor.decompress(payload, max_output_size=raw_size,
                                      allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise MalformedPayload(f"payload does not decompress: {exc}") from None
    if len(raw) != raw_size:
        raise DigestMismatch(f"payload decompressed to {len(raw)} bytes, not {raw_size}")
    return raw


def open_bundle(
    path: str | os.PathLike[str],
    *,
    trust: TrustStore | None,
    insecure_skip_verify: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    now: float | None = None,
) -> OpenedBundle:
    """Read, verify and decode the bundle at ``path`` (see :func:`decode_bundle`).

    Only a regular file is read, and only if it is no larger than the
    largest bundle ``limits`` allow: ``/dev/zero`` or a FIFO is refused at once.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"open_bundle needs a path, not {type(path).__name__}")
    data = read_capped(path, limit=limits.max_file_bytes, what="bundle",
                       error=NotABundle, too_big=LimitExceeded)
    return decode_bundle(data, trust=trust, insecure_skip_verify=insecure_skip_verify,
                         limits=limits, now=now)
