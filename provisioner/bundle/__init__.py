"""The ``.hzg`` bundle codec: the only code that builds or parses bundle bytes."""

from provisioner.bundle.codec import Bundle
from provisioner.bundle.codec import OpenedBundle
from provisioner.bundle.codec import decode_bundle
from provisioner.bundle.codec import open_bundle
from provisioner.bundle.codec import write_atomic
from provisioner.bundle.header import GeneratorInfo
from provisioner.bundle.header import Header
from provisioner.bundle.header import ModelSpec
from provisioner.bundle.header import PayloadInfo
from provisioner.bundle.header import SignerInfo
from provisioner.bundle.layout import FORMAT_MAJOR
from provisioner.bundle.layout import FORMAT_MINOR
from provisioner.bundle.limits import DEFAULT_LIMITS
from provisioner.bundle.limits import Limits

__all__ = (
    "Bundle",
    "DEFAULT_LIMITS",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "GeneratorInfo",
    "Header",
    "Limits",
    "ModelSpec",
    "OpenedBundle",
    "PayloadInfo",
    "SignerInfo",
    "decode_bundle",
    "open_bundle",
    "write_atomic",
)
