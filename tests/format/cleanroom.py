"""A second reader of HZG 1.1, written from format_spec/HZG.md alone.

It shares no code with ``provisioner`` (only the standard library,
``cryptography`` for Ed25519 and ``zstandard`` to inflate a frame whose
header it has parsed itself), returns the error code the spec names, and
stops at the first broken rule in the spec's order. Its only job is to
disagree with the project's reader wherever the spec leaves room: the test
beside it runs both on every vector.
"""

from __future__ import annotations

import array
import hashlib
import math
import re
import struct
import sys
from typing import Any

import zstandard
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAGIC = b"HZG\x00"
CONTEXT = b"HZG bundle signature v1\x00"
MINOR = 1
MiB = 1 << 20
H_MAX, P_MAX, RAW_MAX, WINDOW_MAX = 4 * MiB, 65 * MiB, 64 * MiB, 64 * MiB
STR_MAX, ENTRIES_MAX, DEPTH_MAX = 65_536, 1_048_576, 32
HEADER_VALUES, PAYLOAD_VALUES = 1_048_576, 65_536
TENSORS_MAX, RANK_MAX, DIM_MAX = 1024, 8, 2**31 - 1
COLUMNS_MAX, CATEGORIES_MAX, CELLS_MAX = 1024, 16_384, 65_536
TOKENS_MAX, LAYERS_MAX, WIDTH_MAX, TENSOR_BYTES_MAX = 16_384, 8, 16_384, 64 * MiB
HEX32, HEX64 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")
CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
TWO53 = 2.0**53
INT63 = 2**63 - 1
TIME_MAX = 253_402_300_799


class Reject(Exception):
    def __init__(self, code: str, why: str = "") -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


# --- section 4: canonical msgpack, in byte order -----------------------------

class Bin(bytes):
    """A msgpack bin value (distinct from str)."""


def decode(data: bytes, *, bad: str, allow_bin: bool, max_values: int) -> dict:
    pos = 0
    count = 0

    def need(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise Reject(bad, "ends inside a value")
        piece = data[pos:pos + n]
        pos += n
        return piece

    def uint(n: int) -> int:
        return int.from_bytes(need(n), "big")

    def container(n: int, depth: int) -> None:
        if n > ENTRIES_MAX:
            raise Reject("limit_exceeded", "entries")
        if depth > DEPTH_MAX:
            raise Reject("limit_exceeded", "depth")

    def string(n: int) -> str:
        if n > STR_MAX:
            raise Reject("limit_exceeded", "string")
        raw = need(n)
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject(bad, "utf-8") from None
        if CONTROL.search(s):
            raise Reject(bad, "control character")
        return s

    def value(depth: int) -> Any:
        nonlocal count
        count += 1
        if count > max_values:
            raise Reject("limit_exceeded", "values")
        t = need(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 256
        if 0x80 <= t <= 0x8F:
            return mapping(t & 15, depth + 1)
        if 0x90 <= t <= 0x9F:
            return listing(t & 15, depth + 1)
        if 0xA0 <= t <= 0xBF:
            return string(t & 31)
        if t == 0xC0:
            return None
        if t == 0xC2:
            return False
        if t == 0xC3:
            return True
        if t in (0xC4, 0xC5, 0xC6):
            n = uint({0xC4: 1, 0xC5: 2, 0xC6: 4}[t])
            if (t == 0xC5 and n < 256) or (t == 0xC6 and n < 65536):
                raise Reject(bad, "bin length form")
            if not allow_bin:
                raise Reject(bad, "bin in header")
            return Bin(need(n))
        if t == 0xCB:
            f = struct.unpack(">d", need(8))[0]
            if math.isnan(f) or math.isinf(f):
                raise Reject(bad, "non-finite")
            return f
        if t in (0xCC, 0xCD, 0xCE, 0xCF):
            size = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[t]
            v = uint(size)
            if v < {1: 128, 2: 256, 4: 65536, 8: 2**32}[size]:
                raise Reject(bad, "int form")
            return v
        if t in (0xD0, 0xD1, 0xD2, 0xD3):
            size = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[t]
            v = int.from_bytes(need(size), "big", signed=True)
            if v >= {1: -32, 2: -128, 4: -32768, 8: -(2**31)}[size]:
                raise Reject(bad, "int form")
            return v
        if t in (0xD9, 0xDA, 0xDB):
            size = {0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
            n = uint(size)
            if n < {1: 32, 2: 256, 4: 65536}[size]:
                raise Reject(bad, "str length form")
            return string(n)
        if t in (0xDC, 0xDD):
            n = uint(2 if t == 0xDC else 4)
            if n < (16 if t == 0xDC else 65536):
                raise Reject(bad, "array length form")
            return listing(n, depth + 1)
        if t in (0xDE, 0xDF):
            n = uint(2 if t == 0xDE else 4)
            if n < (16 if t == 0xDE else 65536):
                raise Reject(bad, "map length form")
            return mapping(n, depth + 1)
        raise Reject(bad, f"type {t:#x}")

    def listing(n: int, depth: int) -> list:
        container(n, depth)
        return [value(depth) for _ in range(n)]

    def mapping(n: int, depth: int) -> dict:
        container(n, depth)
        out: dict = {}
        last = None
        for _ in range(n):
            k = value(depth)
            if not isinstance(k, str):
                raise Reject(bad, "key type")
            kb = k.encode("utf-8")
            if last is not None and not kb > last:
                raise Reject(bad, "key order")
            last = kb
            out[k] = value(depth)
        return out

    if not data or not (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF)):
        raise Reject(bad, "not a map")
    result = value(0)
    if pos != len(data):
        raise Reject(bad, "trailing")
    return result


# --- helpers for the header schema -------------------------------------------

def is_int(v: Any) -> bool:
    return type(v) is int


def is_number(v: Any) -> bool:
    return type(v) in (int, float)


def keys(m: Any, required: set[str], optional: set[str], strict: bool, code: str) -> None:
    if not isinstance(m, dict):
        raise Reject(code, "not a map")
    if not required <= set(m):
        raise Reject(code, f"missing {sorted(required - set(m))}")
    if strict and set(m) - required - optional:
        raise Reject(code, f"unknown {sorted(set(m) - required - optional)}")


def text(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, str) and lo <= len(v) <= hi


# --- the reader -----------------------------------------------------------------

def read(data: bytes, trusted: dict[bytes, Ed25519PublicKey], now: float,
         skip_verify: bool = False) -> str:
    """'ok' or the error code the spec names for ``data``."""
    try:
        _read(data, trusted, now, skip_verify)
        return "ok"
    except Reject as r:
        return r.code


def _read(data: bytes, trusted: dict, now: float, skip: bool) -> None:
    # 1-4
    if not data or data[:4] != MAGIC[:min(4, len(data))]:
        raise Reject("not_a_bundle")
    if len(data) < 24:
        raise Reject("truncated")
    major, minor, h, p = struct.unpack_from("<HHQQ", data, 4)
    if major != 1:
        raise Reject("unsupported_version")
    strict = minor <= MINOR
    if h == 0:
        raise Reject("malformed_header")
    if h > H_MAX:
        raise Reject("limit_exceeded")
    if p == 0:
        raise Reject("malformed_payload")
    if p > P_MAX:
        raise Reject("limit_exceeded")
    total = 24 + h + p + 80
    if len(data) < total:
        raise Reject("truncated")
    if len(data) > total:
        raise Reject("length_mismatch")
    # 5
    kid, sig = data[24 + h + p:40 + h + p], data[40 + h + p:total]
    unsigned = kid == bytes(16)
    if unsigned and sig != bytes(64):
        raise Reject("bad_signature")
    if not skip:
        if unsigned:
            raise Reject("unsigned")
        if kid not in trusted:
            raise Reject("untrusted_signer")
        try:
            trusted[kid].verify(sig, CONTEXT + data[:24 + h + p])
        except InvalidSignature:
            raise Reject("bad_signature") from None
    # 6-7
    header = decode(data[24:24 + h], bad="malformed_header", allow_bin=False,
                    max_values=HEADER_VALUES)
    check_header(header, strict)
    # 8
    signer = header["signer"]
    if unsigned != (signer is None) or (signer is not None and signer["key_id"] != kid.hex()):
        raise Reject("malformed_header", "signer")
    # 9
    expires = header["generator"]["expires_at"]
    if expires is not None and now > expires + 300:
        raise Reject("expired")
    # 10
    config = check_content(header, strict)
    # 11-13
    payload = data[24 + h:24 + h + p]
    info = header["payload"]
    if info["compressed_size"] != p or hashlib.sha256(payload).hexdigest() != info["sha256"]:
        raise Reject("digest_mismatch")
    if info["raw_size"] > RAW_MAX:
        raise Reject("limit_exceeded")
    raw = inflate(payload, info["raw_size"])
    # 14
    body = decode(raw, bad="malformed_payload", allow_bin=True, max_values=PAYLOAD_VALUES)
    keys(body, {"tensors"}, set(), strict, "malformed_payload")
    tensors = check_tensors(body["tensors"], strict)
    if len(tensors) != info["tensor_count"]:
        raise Reject("malformed_payload", "count")
    # 15
    check_made(config, tensors, strict)


def check_source_statistics(st: Any, strict: bool) -> None:
    # 5.6: figures that are not DP; only their shape is checked
    bad = "malformed_header"
    keys(st, {"dp", "notice", "evaluator", "computed_at", "metrics"}, set(), strict, bad)
    metrics = st["metrics"]
    if not (st["dp"] is False and text(st["notice"], 1, 1024) and st["notice"].strip(" ")
            and text(st["evaluator"], 0, 256) and is_int(st["computed_at"])
            and 0 <= st["computed_at"] and isinstance(metrics, dict) and len(metrics) <= 64):
        raise Reject(bad, "source_statistics")
    for name, value in metrics.items():
        if not (isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_.]{0,63}", name)
                and (value is None or (type(value) is float and math.isfinite(value)))):
            raise Reject(bad, "source_statistics metric")


def check_header(hd: dict, strict: bool) -> None:
    bad = "malformed_header"
    keys(hd, {"generator", "model", "schema", "privacy", "provenance", "payload", "signer"},
         {"extensions", "source_statistics"}, strict, bad)
    for name in ("generator", "model", "schema", "privacy", "provenance", "payload"):
        if not isinstance(hd[name], dict):
            raise Reject(bad, name)
    if "source_statistics" in hd:
        check_source_statistics(hd["source_statistics"], strict)
    g = hd["generator"]
    keys(g, {"id", "name", "version", "owner", "created_at", "expires_at"}, set(), strict, bad)
    if not (isinstance(g["id"], str) and HEX32.fullmatch(g["id"]) and text(g["name"], 1, 256)
            and text(g["owner"], 1, 256) and is_int(g["version"])
            and 1 <= g["version"] <= INT63 and is_int(g["created_at"])
            and 0 <= g["created_at"] <= TIME_MAX
            and (g["expires_at"] is None or (is_int(g["expires_at"])
                                             and 0 <= g["expires_at"] <= TIME_MAX))):
        raise Reject(bad, "generator")
    m = hd["model"]
    keys(m, {"family", "config"}, set(), strict, bad)
    if not (isinstance(m["family"], str) and re.fullmatch(r"[a-z][a-z0-9_-]{0,63}",
                                                          m["family"])
            and isinstance(m["config"], dict)):
        raise Reject(bad, "model")
    pl = hd["payload"]
    keys(pl, {"codec", "compressed_size", "raw_size", "sha256", "tensor_count"}, set(),
         strict, bad)
    if not (pl["codec"] == "zstd" and is_int(pl["compressed_size"])
            and 1 <= pl["compressed_size"] <= INT63 and is_int(pl["raw_size"])
            and 1 <= pl["raw_size"] <= INT63 and isinstance(pl["sha256"], str)
            and HEX64.fullmatch(pl["sha256"]) and is_int(pl["tensor_count"])
            and 0 <= pl["tensor_count"] <= INT63):
        raise Reject(bad, "payload")
    s = hd["signer"]
    if s is not None:
        keys(s, {"key_id", "name"}, set(), strict, bad)
        if not (isinstance(s["key_id"], str) and HEX32.fullmatch(s["key_id"])
                and text(s["name"], 1, 256)):
            raise Reject(bad, "signer")
    if "extensions" in hd:
        e = hd["extensions"]
        if not isinstance(e, dict) or not all(
                re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", k) and text(v, 0, 1024)
                for k, v in e.items()):
            raise Reject(bad, "extensions")


def check_content(hd: dict, strict: bool) -> dict:
    bad = "malformed_header"
    schema, config = hd["schema"], hd["model"]["config"]
    # 10.2 cost limits first, in table order
    cols = schema.get("columns")
    counts, hidden = config.get("token_counts"), config.get("hidden")
    if (isinstance(cols, list) and len(cols) > COLUMNS_MAX) or (
            isinstance(counts, list) and len(counts) > COLUMNS_MAX):
        raise Reject("limit_exceeded", "columns")
    for c in cols if isinstance(cols, list) else []:
        if isinstance(c, dict) and isinstance(c.get("categories"), list) \
                and len(c["categories"]) > CATEGORIES_MAX:
            raise Reject("limit_exceeded", "categories")
    for c in cols if isinstance(cols, list) else []:
        if isinstance(c, dict) and isinstance(c.get("cell_weights"), list) \
                and len(c["cell_weights"]) > CELLS_MAX:
            raise Reject("limit_exceeded", "cells")

    def positive_ints(v: Any) -> bool:
        return isinstance(v, list) and all(is_int(x) and x >= 1 for x in v)

    if positive_ints(counts) and sum(counts) > TOKENS_MAX:
        raise Reject("limit_exceeded", "tokens")
    if isinstance(hidden, list) and len(hidden) > LAYERS_MAX:
        raise Reject("limit_exceeded", "layers")
    if positive_ints(hidden) and hidden and max(hidden) > WIDTH_MAX:
        raise Reject("limit_exceeded", "width")
    if positive_ints(counts) and positive_ints(hidden) and counts:
        if 4 * sum(_made_shapes(counts, hidden, config.get("direct") is True).values()) \
                > TENSOR_BYTES_MAX:
            raise Reject("limit_exceeded", "tensor bytes")
    # section 6
    keys(schema, {"columns", "rows"}, set(), strict, bad)
    if not isinstance(cols, list) or not cols:
        raise Reject(bad, "columns")
    rows = schema["rows"]
    if rows is not None and not (is_int(rows) and 0 <= rows <= INT63):
        raise Reject(bad, "rows")
    tokens = []
    names = set()
    for c in cols:
        n = check_column(c, strict)
        if c["name"] in names:
            raise Reject(bad, "duplicate name")
        names.add(c["name"])
        if n is not None:
            tokens.append(n)
    if not tokens:
        raise Reject(bad, "no modelled column")
    # section 8
    if hd["model"]["family"] != "made":
        raise Reject(bad, "family")
    keys(config, {"token_counts", "hidden", "direct", "activation"}, set(), strict, bad)
    if not (positive_ints(counts) and counts and positive_ints(hidden)
            and config["direct"] in (True, False) and config["direct"] is not None
            and type(config["direct"]) is bool and config["activation"] == "relu"):
        raise Reject(bad, "config")
    if counts != tokens:
        raise Reject(bad, "token counts")
    # section 7
    check_privacy(hd["privacy"], cols, strict)
    return config


def check_column(c: Any, strict: bool) -> int | None:
    bad = "malformed_header"
    if not isinstance(c, dict):
        raise Reject(bad, "column")
    common = {"name", "kind", "value_type", "nullable", "metadata"}
    kind = c.get("kind")
    extra = {"categorical": {"categories", "rare_label"},
             "numeric": {"decimals", "cell_edges", "cell_weights", "bin_starts"},
             "datetime": {"unit", "format", "cell_edges", "cell_weights", "bin_starts"},
             "id": {"style", "pattern"}}.get(kind) if isinstance(kind, str) else None
    if extra is None:
        raise Reject(bad, "kind")
    optional = {"datetime": {"timezone"}, "categorical": {"filler"}}.get(kind, set())
    keys(c, common | extra, optional, strict, bad)
    vt = c["value_type"]
    allowed = {"categorical": ("string", "boolean", "integer"), "numeric": ("integer", "float"),
               "datetime": ("datetime",), "id": ("integer", "string")}[kind]
    if not (text(c["name"], 1, 256) and vt in allowed and type(c["nullable"]) is bool
            and c["metadata"] in ("public", "dp", "exact")):
        raise Reject(bad, "common")
    null = 1 if c["nullable"] else 0
    if kind == "categorical":
        cats, rare = c["categories"], c["rare_label"]
        if not isinstance(cats, list):
            raise Reject(bad, "categories")
        for v in cats:
            if vt == "boolean" and type(v) is not bool:
                raise Reject(bad, "category type")
            if vt == "integer" and not (is_int(v) and -(2**63) <= v <= INT63):
                raise Reject(bad, "category type")
            if vt == "string" and not text(v, 0, 1024):
                raise Reject(bad, "category type")
        if len(set(cats)) != len(cats):
            raise Reject(bad, "duplicate category")
        if rare is not None and not (vt == "string" and text(rare, 0, 256)):
            raise Reject(bad, "rare")
        if "filler" in c:  # 6.2, from its text: a template of 6.5, only with a rare token
            if not (vt == "string" and rare is not None
                    and 1 <= template_units(c["filler"]) <= 128):
                raise Reject(bad, "filler")
        n = len(cats) + (rare is not None) + null
    elif kind in ("numeric", "datetime"):
        if kind == "numeric":
            dec = c["decimals"]
            if not (is_int(dec) and -15 <= dec <= 15 and (vt == "float" or dec <= 0)):
                raise Reject(bad, "decimals")
            scale = 10.0 ** dec if vt == "float" else 1.0
            lo, hi, integral = -TWO53, TWO53, vt == "integer"
        else:
            unit = c["unit"]
            if unit not in ("D", "s", "ms", "us"):
                raise Reject(bad, "unit")
            if c["format"] is not None and not text(c["format"], 1, 64):
                raise Reject(bad, "format")
            if "timezone" in c:  # 6.4, from its text
                zone = c["timezone"]
                part = r"[A-Za-z0-9_+-]"
                named = re.fullmatch(rf"[A-Za-z]{part}{{0,31}}(/{part}{{1,32}}){{0,3}}", zone) \
                    if isinstance(zone, str) else None
                offset = re.fullmatch(r"[+-](\d\d):(\d\d)", zone) \
                    if isinstance(zone, str) else None
                if not (isinstance(zone, str) and len(zone) <= 64 and unit in ("s", "ms", "us")
                        and (zone == "UTC" or named or (offset and int(offset.group(1)) <= 23
                                                        and int(offset.group(2)) <= 59))):
                    raise Reject(bad, "timezone")
            mult = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}[unit]
            lo, hi, scale, integral = -719_162 * mult, 2_932_897 * mult, 1.0, True
        edges, weights, starts = c["cell_edges"], c["cell_weights"], c["bin_starts"]
        if not (isinstance(edges, list) and isinstance(weights, list)
                and isinstance(starts, list) and all(map(is_number, edges))
                and all(map(is_number, weights)) and len(edges) >= 2
                and len(weights) == len(edges) - 1):
            raise Reject(bad, "grid shape")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise Reject(bad, "edges order")
        if integral and any(float(e) != math.floor(float(e)) for e in edges):
            raise Reject(bad, "integral")
        if not all(lo <= float(e) * scale <= hi for e in (edges[0], edges[-1])):
            raise Reject(bad, "range")
        if not all(0 <= w <= TWO53 for w in weights):
            raise Reject(bad, "weights")
        if not (starts and all(is_int(s) for s in starts) and starts[0] == 0
                and all(b > a for a, b in zip(starts, starts[1:]))
                and starts[-1] < len(weights)):
            raise Reject(bad, "bin starts")
        n = len(starts) + null
    else:
        style, pattern = c["style"], c["pattern"]
        if style not in ("sequence", "uuid", "pattern") or c["nullable"] \
                or (vt == "integer") != (style == "sequence"):
            raise Reject(bad, "id")
        if style == "pattern":
            if not 1 <= template_units(pattern) <= 128:
                raise Reject(bad, "pattern units")
        elif pattern is not None:
            raise Reject(bad, "pattern")
        return None
    if n < 1:
        raise Reject(bad, "no tokens")
    return n


def template_units(pattern: Any) -> int:
    """Units of a 6.5 template (``\\`` and the next character are one); -1 when
    it is not a string or ends with a lone ``\\``."""
    if not isinstance(pattern, str):
        return -1
    units, i = 0, 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern):
                return -1
            i += 2
        else:
            i += 1
        units += 1
    return units


def check_privacy(pv: Any, cols: list, strict: bool) -> None:
    bad = "malformed_header"
    keys(pv, {"dp", "epsilon", "delta", "unit", "neighboring", "accountant",
              "accountant_library", "phases", "mechanisms"}, set(), strict, bad)
    if not (type(pv["dp"]) is bool and pv["unit"] == "row"
            and pv["neighboring"] == "add_or_remove_one"
            and pv["accountant"] in (None, "pld", "rdp")
            and (pv["accountant_library"] is None or text(pv["accountant_library"], 0, 128))
            and all(v is None or type(v) is float for v in (pv["epsilon"], pv["delta"]))
            and isinstance(pv["phases"], list) and isinstance(pv["mechanisms"], list)):
        raise Reject(bad, "privacy keys")
    for ph in pv["phases"]:
        keys(ph, {"name", "epsilon", "delta"}, set(), strict, bad)
        if not (text(ph["name"], 1, 64) and type(ph["epsilon"]) is float
                and ph["epsilon"] >= 0 and type(ph["delta"]) is float
                and 0 <= ph["delta"] < 1):
            raise Reject(bad, "phase")
    for me in pv["mechanisms"]:
        keys(me, {"name", "phase", "kind", "params", "columns"}, set(), strict, bad)
        if not (text(me["name"], 1, 64) and text(me["phase"], 1, 64)
                and text(me["kind"], 1, 64) and isinstance(me["params"], dict)
                and isinstance(me["columns"], list)
                and all(isinstance(x, str) for x in me["columns"])):
            raise Reject(bad, "mechanism")
    origins = [c["metadata"] for c in cols]
    if not pv["dp"]:
        if pv["epsilon"] is not None or pv["delta"] is not None or \
                pv["accountant"] is not None or pv["phases"] or pv["mechanisms"] \
                or "dp" in origins:
            raise Reject(bad, "non-dp")
        return
    eps, dl = pv["epsilon"], pv["delta"]
    if eps is None or not eps > 0 or dl is None or not 0 <= dl < 1 \
            or pv["accountant"] is None or not pv["phases"] or not pv["mechanisms"]:
        raise Reject(bad, "dp")
    names = [ph["name"] for ph in pv["phases"]]
    if len(set(names)) != len(names) or any(m["phase"] not in names
                                            for m in pv["mechanisms"]):
        raise Reject(bad, "phases")
    for total, part in ((eps, [ph["epsilon"] for ph in pv["phases"]]),
                        (dl, [ph["delta"] for ph in pv["phases"]])):
        s = math.fsum(part)
        if abs(s - total) > 1e-9 * max(abs(s), abs(total)):
            raise Reject(bad, "sums")
    if "exact" in origins:
        raise Reject(bad, "exact")
    covered = {x for m in pv["mechanisms"] for x in m["columns"]}
    if any(c["metadata"] == "dp" and c["name"] not in covered for c in cols):
        raise Reject(bad, "uncovered")


def inflate(payload: bytes, raw_size: int) -> bytes:
    """Section 9.1, with the frame header parsed per RFC 8878."""
    bad = "malformed_payload"
    if payload[:4] != b"\x28\xb5\x2f\xfd" or len(payload) < 6:
        raise Reject(bad, "magic")
    fhd = payload[4]
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    if fhd & 0x08:
        raise Reject(bad, "reserved bit")
    pos = 5
    window = None
    if not single:
        wd = payload[pos]
        pos += 1
        exponent, mantissa = wd >> 3, wd & 7
        base = 1 << (10 + exponent)
        window = base + (base // 8) * mantissa
    dict_size = {0: 0, 1: 1, 2: 2, 3: 4}[dict_flag]
    dict_id = int.from_bytes(payload[pos:pos + dict_size], "little")
    pos += dict_size
    fcs_size = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[fcs_flag]
    if fcs_size == 0:
        raise Reject(bad, "no content size")
    if pos + fcs_size > len(payload):
        raise Reject(bad, "short frame header")
    content = int.from_bytes(payload[pos:pos + fcs_size], "little")
    if fcs_size == 2:
        content += 256
    if content != raw_size:
        raise Reject("digest_mismatch")
    if window is None:
        window = content
    if window > WINDOW_MAX:
        raise Reject("limit_exceeded")
    if dict_id != 0:
        raise Reject(bad, "dictionary")
    try:
        out = zstandard.ZstdDecompressor(max_window_size=WINDOW_MAX).decompress(
            payload, max_output_size=raw_size, allow_extra_data=False)
    except zstandard.ZstdError:
        raise Reject(bad, "decompress") from None
    if len(out) != raw_size:
        raise Reject(bad, "size")
    return out


SIZES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8,
         "float32": 4, "float64": 8}


def check_tensors(t: Any, strict: bool) -> dict:
    bad = "malformed_payload"
    if not isinstance(t, dict):
        raise Reject(bad, "tensors")
    if len(t) > TENSORS_MAX:
        raise Reject("limit_exceeded", "tensors")
    out = {}
    for name, e in t.items():
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}", name):
            raise Reject(bad, "name")
        keys(e, {"data", "dtype", "shape"}, set(), strict, bad)
        if not isinstance(e["dtype"], str) or e["dtype"] not in SIZES:
            raise Reject(bad, "dtype")
        shape = e["shape"]
        if not isinstance(shape, list):
            raise Reject(bad, "shape")
        if len(shape) > RANK_MAX:
            raise Reject("limit_exceeded", "rank")
        for d in shape:
            if not is_int(d) or d < 0:
                raise Reject(bad, "dim")
            if d > DIM_MAX:
                raise Reject("limit_exceeded", "dim")
        if not isinstance(e["data"], Bin):
            raise Reject(bad, "data type")
        n = math.prod(shape)
        if len(e["data"]) != n * SIZES[e["dtype"]]:
            raise Reject(bad, "data length")
        data = bytes(e["data"])
        if e["dtype"] in ("float32", "float64"):
            values = array.array("f" if e["dtype"] == "float32" else "d")
            values.frombytes(data)
            if sys.byteorder != "little":
                values.byteswap()
            if any(math.isnan(v) or math.isinf(v) for v in values):
                raise Reject(bad, "non-finite")
        if e["dtype"] == "bool" and any(b > 1 for b in data):
            raise Reject(bad, "bool")
        out[name] = (e["dtype"], shape, data)
    return out


def _made_shapes(counts: list[int], hidden: list[int], direct: bool) -> dict[str, int]:
    v = sum(counts)
    sizes, width = {}, v
    for i, h in enumerate(hidden):
        sizes[f"hidden.{i}.w"], sizes[f"hidden.{i}.b"] = width * h, h
        width = h
    sizes["out.w"], sizes["out.b"] = width * v, v
    if direct:
        sizes["direct.w"] = v * v
    return sizes


def check_made(config: dict, tensors: dict, strict: bool) -> None:
    bad = "malformed_payload"
    counts, hidden, direct = config["token_counts"], config["hidden"], config["direct"]
    v = sum(counts)
    shapes: dict[str, list[int]] = {}
    width = v
    for i, h in enumerate(hidden):
        shapes[f"hidden.{i}.w"], shapes[f"hidden.{i}.b"] = [width, h], [h]
        width = h
    shapes["out.w"], shapes["out.b"] = [width, v], [v]
    if direct:
        shapes["direct.w"] = [v, v]
    if not set(shapes) <= set(tensors) or (strict and set(tensors) != set(shapes)):
        raise Reject(bad, "tensor names")
    for name, shape in shapes.items():
        dtype, got, _ = tensors[name]
        if dtype != "float32" or got != shape:
            raise Reject(bad, "tensor shape")
    # degrees and masks (section 8)
    cols = len(counts)
    token_deg = [c + 1 for c, n in enumerate(counts) for _ in range(n)]

    def hidden_deg(h: int) -> list[int]:
        return [1] * h if cols == 1 else [1 + (j * (cols - 1)) // h for j in range(h)]

    layers = [token_deg] + [hidden_deg(h) for h in hidden]
    checks = [(f"hidden.{i}.w", layers[i], layers[i + 1], False) for i in range(len(hidden))]
    checks.append(("out.w", layers[-1], token_deg, True))
    if direct:
        checks.append(("direct.w", token_deg, token_deg, True))
    for name, ins, outs, strict_less in checks:
        values = array.array("f")
        values.frombytes(tensors[name][2])
        n_out = len(outs)
        for i, di in enumerate(ins):
            row = values[i * n_out:(i + 1) * n_out]
            for j, dj in enumerate(outs):
                allowed = di < dj if strict_less else di <= dj
                if not allowed and row[j] != 0.0:
                    raise Reject(bad, "mask")
