"""Human and machine summaries of an opened bundle (``hzg inspect``/``verify``).

Both verbs validate the whole bundle first (container and content) by
building a :class:`~provisioner.generator.Generator`, so what they print has
passed every check a sampler would apply.

Every string that came from a bundle goes through :func:`shown` before it
reaches a terminal: the format already refuses control characters, and
anything else that is not printable (bidirectional overrides, zero-width
and line-separator characters) is written as an escape, so no field can
start a line, move the cursor or reorder what the status line says.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from provisioner.bundle import FORMAT_MAJOR, OpenedBundle
from provisioner.generator import Generator
from provisioner.privacy import PrivacyStatement
from provisioner.schema import Column


def shown(value: Any) -> str:
    """``str(value)`` with every non-printable character escaped (``\\u202e``)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _when(stamp: int | None) -> str:
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def signature_line(opened: OpenedBundle) -> str:
    signer = opened.header.signer
    if opened.verified:
        key = opened.trusted_key
        return f"verified: signed by {shown(key.name)} (key {key.key_id})"
    if signer is None:
        return "UNSIGNED (read with --insecure-skip-verify)"
    return (f"NOT VERIFIED: claims {shown(signer.name)} (key {signer.key_id}); "
            "read with --insecure-skip-verify")


def privacy_line(privacy: PrivacyStatement) -> str:
    """One line stating the guarantee exactly as the privacy statement records it."""
    if not privacy.dp:
        return "NOT differentially private (trained without DP)"
    relation = {"add_or_remove_one": "add/remove one"}.get(privacy.neighboring,
                                                           privacy.neighboring)
    return (f"({privacy.epsilon:.4g}, {privacy.delta:.3g})-DP per {shown(privacy.unit)}, "
            f"{shown(relation)}, {shown(privacy.accountant)} accountant")


def _span(column: Column) -> str:
    lo, hi = column.grid.cell_edges[0], column.grid.cell_edges[-1]
    if column.kind == "datetime":
        unit = f"datetime64[{column.unit}]"
        return f"[{np.int64(lo).astype(unit)}, {np.int64(hi).astype(unit)})"
    return f"[{lo:g}, {hi:g})"


def column_line(column: Column) -> str:
    if column.filler is not None:
        text = (f"text, {len(column.categories)} frequent values + fillers "
                f"{shown(column.filler)}")
    elif column.kind == "categorical":
        text = f"categorical {column.value_type}, {len(column.categories)} values"
        if column.rare_label is not None:
            text += f" + rare ({shown(repr(column.rare_label))})"
    elif column.kind == "numeric":
        decimals = f", {column.decimals} decimals" if column.value_type == "float" else ""
        text = (f"numeric {column.value_type}, {column.grid.num_bins} bins over "
                f"{_span(column)}{decimals}")
    elif column.kind == "datetime":
        zone = f", zone {column.timezone}" if column.timezone is not None else ""
        text = (f"datetime ({column.unit}{zone}), {column.grid.num_bins} bins over "
                f"{_span(column)}")
    else:
        shape = {"sequence": "1, 2, 3, ...", "uuid": "32 hex characters"}.get(
            column.style, f"pattern {shown(column.pattern)}")
        text = f"id {column.value_type}, fresh values: {shape}"
    if column.nullable:
        text += ", nullable"
    return f"{text}  [{column.metadata}]"


def summary(opened: OpenedBundle) -> dict[str, Any]:
    """A JSON-ready dict: the whole header plus what the reader established."""
    return {
        "format": f"{FORMAT_MAJOR}.{opened.minor_version}",
        "file_size": opened.file_size,
        "verified": opened.verified,
        "trusted_key": None if opened.trusted_key is None else {
            "key_id": opened.trusted_key.key_id, "name": opened.trusted_key.name},
        "header": opened.header.to_plain(),
        "tensors": {name: {"dtype": str(a.dtype), "shape": list(a.shape)}
                    for name, a in sorted(opened.tensors.items())},
    }


def render(opened: OpenedBundle, generator: Generator) -> str:
    h = opened.header
    g = h.generator
    lines = [
        f"generator   {shown(g.name)} v{g.version} (id {g.id}), owner {shown(g.owner)}",
        f"created     {_when(g.created_at)}; expires {_when(g.expires_at)}",
        f"signature   {signature_line(opened)}",
        f"privacy     {privacy_line(generator.privacy)}",
    ]
    for phase in generator.privacy.phases:
        lines.append(f"  phase {shown(phase.name)}: epsilon {phase.epsilon:.4g}, delta "
                     f"{phase.delta:.3g}")
        for mechanism in generator.privacy.mechanisms:
            if mechanism.phase == phase.name:
                lines.append(f"    {shown(mechanism.name)} ({shown(mechanism.kind)}) "
                             + _params_line(mechanism.params))
    config = generator.sampler.config
    lines.append(f"model       {shown(h.model.family)}: {config.num_columns} modelled columns, "
                 f"{config.vocab_size} tokens, hidden {list(config.hidden)}"
                 + (", direct layer" if config.direct else ""))
    rows = generator.schema.rows
    lines.append(f"columns     {len(generator.schema.columns)}"
                 + (f" (trained on about {rows:,} rows, DP count)" if rows else ""))
    names = [shown(c.name) for c in generator.schema.columns]
    width = min(max(map(len, names)), 40)
    for name, column in zip(names, generator.schema.columns):
        lines.append(f"  {name:<{width}}  {column_line(column)}")
    p = h.payload
    lines.append(
        f"sizes       file {_size(opened.file_size)}; payload {_size(p.compressed_size)} "
        f"compressed from {_size(p.raw_size)}; {p.tensor_count} tensors"
    )
    lines.append(f"digest      sha256 {p.sha256}")
    software = h.provenance.get("software")
    if software:
        lines.append(f"made by     {shown(software)}")
    for key, value in sorted(h.extensions.items()):
        lines.append(f"extension   {shown(key)} = {shown(value)}")
    if h.source_statistics is not None:
        stats = h.source_statistics
        lines.append(f"NOT DP      {shown(stats['notice'])}")
        lines.append(f"  by {shown(stats['evaluator'])} on {_when(stats['computed_at'])}")
        for name, value in sorted(stats["metrics"].items()):
            lines.append(f"  {shown(name)} = " + ("–" if value is None else f"{value:.4g}"))
    return "\n".join(lines)


def _params_line(params: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else shown(value)

    return ", ".join(f"{shown(k)}={show(v)}" for k, v in sorted(params.items())
                     if not isinstance(v, (list, dict)))


def verdict(opened: OpenedBundle, generator: Generator) -> str:
    g = opened.header.generator
    return (f"OK {shown(g.name)} v{g.version}: {signature_line(opened)}; "
            f"{privacy_line(generator.privacy)}")


def short_column(column: Column) -> str:
    """A column in a few words, for the side-by-side view."""
    if column.filler is not None:
        text = f"text {len(column.categories)} + fillers"
    elif column.kind == "categorical":
        kind = "" if column.value_type == "string" else f" {column.value_type}"
        text = f"categorical{kind} {len(column.categories)}"
        text += " + rare" if column.rare_label is not None else ""
    elif column.kind in ("numeric", "datetime"):
        kind = (f"numeric {column.value_type}" if column.kind == "numeric"
                else f"datetime {column.unit}")
        text = f"{kind} {_span(column)}"
    elif column.kind == "id":
        text = f"id {column.style}"
    else:
        text = column.kind
    return text + (", null" if column.nullable else "")


def render_side_by_side(paths: list[str], opened: list[OpenedBundle],
                        generators: list[Generator]) -> str:
    """Several bundles in columns: identity, signer, privacy, then every column."""
    from provisioner.aggregate import default_labels
    from provisioner.errors import AggregationError
    from provisioner.provenance import guarantee, privacy_statement
    from provisioner.reconcile import reconcile

    def signer(o: OpenedBundle) -> str:
        if o.verified:
            return f"{o.trusted_key.name} (key {o.trusted_key.key_id[:12]}...)"
        return "NOT VERIFIED"

    rows: list[tuple[str, list[str]]] = [
        ("bundle", [p.rsplit("/", 1)[-1] for p in paths]),
        ("generator", [f"{g.info.name} v{g.info.version}" for g in generators]),
        ("id", [g.info.id for g in generators]),
        ("owner", [g.info.owner for g in generators]),
        ("signed by", [signer(o) for o in opened]),
        ("created", [_when(g.info.created_at) for g in generators]),
        ("expires", [_when(g.info.expires_at) for g in generators]),
        ("privacy", [guarantee(g.privacy) for g in generators]),
        ("DP rows", ["-" if g.rows is None else f"{g.rows:,}" for g in generators]),
        ("model", [f"{o.header.model.family} {g.sampler.config.vocab_size} tokens, "
                   f"hidden {list(g.sampler.config.hidden)}"
                   for o, g in zip(opened, generators)]),
        ("sha256", [o.header.payload.sha256[:16] + "..." for o in opened]),
        ("columns", [str(len(g.schema.columns)) for g in generators]),
    ]
    names: list[str] = []
    for g in generators:
        names.extend(n for n in g.names if n not in names)
    for name in names:
        cells = []
        for g in generators:
            try:
                cells.append(short_column(g.schema.column(name)))
            except KeyError:
                cells.append("(absent)")
        rows.append((f"  {name}", cells))
    label_width = max(len(label) for label, _ in rows)
    widths = [min(max(len(cells[i]) for _, cells in rows), 40) for i in range(len(paths))]
    lines = []
    for label, cells in rows:
        shown = [c if len(c) <= w else c[: w - 3] + "..." for c, w in zip(cells, widths)]
        lines.append(f"{label:<{label_width}}  " + "  ".join(
            f"{c:<{w}}" for c, w in zip(shown, widths)).rstrip())
    labelled = list(zip(default_labels(generators), generators))
    try:
        united = reconcile([(label, g.columns) for label, g in labelled])
        lines.append(f"{'aggregate':<{label_width}}  union of {len(united.columns)} columns; "
                     f"hzg aggregate can mix these bundles")
    except AggregationError as exc:
        lines.append(f"{'aggregate':<{label_width}}  cannot be mixed: {exc}")
    statement = privacy_statement([(label, g.privacy) for label, g in labelled])["statement"]
    lines.append(f"{'privacy':<{label_width}}  {statement[0]}")
    lines.extend(f"{'':<{label_width}}  {line}" for line in statement[1:])
    return "\n".join(lines)
