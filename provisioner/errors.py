"""The closed error tree of HZG.

Every error a user can cause derives from :class:`HzgError`, so callers catch
one class and the CLI prints one line. Each class has a stable ``code`` (cited
by ``format_spec/HZG.md`` and ``format_spec/vectors/index.json``) and a
message that says what is wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AggregationError",
    "BadSignature",
    "BundleError",
    "BundleExpired",
    "ConfigError",
    "DigestMismatch",
    "HzgError",
    "ImpossibleCondition",
    "InputDataError",
    "KeyFileError",
    "LengthMismatch",
    "LimitExceeded",
    "MalformedHeader",
    "MalformedPayload",
    "MissingDependency",
    "NotABundle",
    "OutputFileError",
    "PrivacyBudgetError",
    "SamplingError",
    "SchemaFileError",
    "SignatureError",
    "TruncatedBundle",
    "UnsignedBundle",
    "UnsupportedVersion",
    "UntrustedSigner",
]


class HzgError(Exception):
    """Base class of every error HZG raises on purpose.

    ``str(error)`` is a single line meant for the user.
    """

    code = "hzg_error"

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would break the CLI contract.
        super().__init__(" ".join(str(message).split()))


# --- bundle files -----------------------------------------------------------


class BundleError(HzgError, ValueError):
    """The bytes are not a valid ``.hzg`` bundle."""

    code = "bundle"


class NotABundle(BundleError):
    """The file does not start with the ``HZG\\0`` magic."""

    code = "not_a_bundle"


class UnsupportedVersion(BundleError):
    """The bundle's major format version is unknown to this reader."""

    code = "unsupported_version"


class TruncatedBundle(BundleError):
    """The file ends before the fixed prefix or before a declared region."""

    code = "truncated"


class LengthMismatch(BundleError):
    """Declared region lengths do not add up to the file size."""

    code = "length_mismatch"


class LimitExceeded(BundleError):
    """A declared or decoded size is above the reader's limits."""

    code = "limit_exceeded"


class MalformedHeader(BundleError):
    """The header is not canonical, strict msgpack of the v1 schema."""

    code = "malformed_header"


class MalformedPayload(BundleError):
    """The payload is not a single valid zstd frame of the v1 tensor map."""

    code = "malformed_payload"


class DigestMismatch(BundleError):
    """The payload does not match the digest or sizes in the header."""

    code = "digest_mismatch"


# --- signatures and trust ---------------------------------------------------


class SignatureError(HzgError):
    """The bundle cannot be shown to come from a trusted signer."""

    code = "signature"


class UnsignedBundle(SignatureError):
    code = "unsigned"


class UntrustedSigner(SignatureError):
    code = "untrusted_signer"


class BadSignature(SignatureError):
    code = "bad_signature"


class BundleExpired(SignatureError):
    code = "expired"


class KeyFileError(HzgError):
    """A key or trust file cannot be read, parsed or decrypted."""

    code = "key_file"


# --- user input -------------------------------------------------------------


class InputDataError(HzgError, ValueError):
    """The input table has problems; all of them are listed at once."""

    code = "input_data"

    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems with the table: " + "; ".join(
                self.problems
            )
        super().__init__(message)


class SchemaFileError(HzgError, ValueError):
    """A schema file is unreadable or contradicts the table."""

    code = "schema_file"


class ConfigError(HzgError, ValueError):
    """An option or configuration value is out of range or inconsistent."""

    code = "config"


class OutputFileError(HzgError):
    """An output file cannot be written (missing folder, no permission, full disk)."""

    code = "output_file"


class PrivacyBudgetError(HzgError):
    """The requested privacy budget cannot be met or would be exceeded."""

    code = "privacy_budget"


class SamplingError(HzgError, ValueError):
    """A sampling request cannot be honoured (e.g. an impossible condition)."""

    code = "sampling"


class ImpossibleCondition(SamplingError):
    """A condition no row of this generator can meet (a value it never makes)."""

    code = "impossible_condition"


class AggregationError(HzgError, ValueError):
    """Generators cannot be aggregated as asked (their columns disagree, bad weights)."""

    code = "aggregation"


class MissingDependency(HzgError, ImportError):
    """An optional package is needed for this operation."""

    code = "missing_dependency"
