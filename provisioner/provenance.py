"""Where sampled rows came from: the record written beside every output.

``OUT.provenance.json`` names each generator (owner, signing key, generator
id, payload SHA-256, dates, privacy guarantee, DP row count, weight), the
sampling scheme and seed, and the request, so that anyone holding the same
bundles can make the same rows again and knows what protects them.

The privacy rule for several owners, stated in every record: each owner's
rows are protected by that owner's own (ε, δ). A person held by one owner
only has that owner's guarantee; a person present in several owners' tables
composes across them, at worst the sum of their ε and δ (basic
composition). Sampling and mixing read nothing but the generators, so they
add no privacy cost of their own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from provisioner import scheme
from provisioner.aggregate import Mixture
from provisioner.generator import Generator
from provisioner.privacy import PrivacyStatement
from provisioner.sampling import Request

SUFFIX = ".provenance.json"


def provenance_path(output: str) -> str:
    return output + SUFFIX


def _iso(stamp: int | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def generators_of(source: Any) -> list[tuple[str, Generator, float]]:
    """(label, generator, weight) of each generator behind ``source``."""
    if isinstance(source, Mixture):
        found = []
        for label, inner, weight in zip(source.labels, source.sources, source.weights):
            for inner_label, generator, inner_weight in generators_of(inner):
                name = label if isinstance(inner, Generator) else f"{label}/{inner_label}"
                found.append((name, generator, float(weight) * inner_weight))
        return found
    if isinstance(source, Generator):
        return [(f"{source.info.owner}/{source.info.name}", source, 1.0)]
    raise TypeError(f"no provenance for {type(source).__name__}")


def source_record(label: str, generator: Generator, weight: float,
                  file: str | None = None) -> dict[str, Any]:
    """What identifies one generator and what protects its owner's rows."""
    info = generator.info
    header = generator.header
    key = generator.trusted_key
    privacy = generator.privacy
    return {
        "label": label,
        "file": file,
        "generator": {"id": info.id, "name": info.name, "version": info.version,
                      "owner": info.owner},
        "signer": {
            "verified": key is not None,
            "key_id": key.key_id if key is not None else (
                header.signer.key_id if header is not None and header.signer else None),
            "name": key.name if key is not None else None,
        },
        "payload_sha256": None if header is None else header.payload.sha256,
        "created_at": _iso(info.created_at),
        "expires_at": _iso(info.expires_at),
        "privacy": {"dp": privacy.dp, "epsilon": privacy.epsilon, "delta": privacy.delta,
                    "unit": privacy.unit, "neighboring": privacy.neighboring,
                    "accountant": privacy.accountant},
        "dp_rows": generator.rows,
        "weight": weight,
    }


def privacy_statement(labelled: Sequence[tuple[str, PrivacyStatement]]) -> dict[str, Any]:
    """The guarantee of rows made from these generators, in words and numbers."""
    owners = [{"label": label, "dp": p.dp, "epsilon": p.epsilon, "delta": p.delta}
              for label, p in labelled]
    private = all(p.dp for _, p in labelled)
    lines = []
    if len(labelled) == 1:
        label, p = labelled[0]
        lines.append(f"the rows are {guarantee(p)} for each person in {label}'s table")
    else:
        lines.append("each owner's rows are protected by that owner's own guarantee: "
                     + "; ".join(f"{label} {guarantee(p)}" for label, p in labelled))
        lines.append("a person held by one owner only has that owner's guarantee; a person "
                     "present at several owners composes across them")
        if private:
            eps = math.fsum(p.epsilon for _, p in labelled)
            delta = math.fsum(p.delta for _, p in labelled)
            lines.append(f"at worst, for a person present at all of them: ({eps:.4g}, "
                         f"{delta:.3g})-DP (the sum, by basic composition)")
    if not private:
        lines.append("a generator trained without DP gives its owner's people no guarantee, "
                     "and nothing that combines it gives them one")
    lines.append("sampling and mixing read only the generators: they cost no privacy")
    statement: dict[str, Any] = {"owners": owners, "statement": lines}
    if private and len(labelled) > 1:
        statement["composed_if_present_at_all"] = {
            "epsilon": math.fsum(p.epsilon for _, p in labelled),
            "delta": math.fsum(p.delta for _, p in labelled),
            "rule": "basic composition (sum)"}
    return statement


def guarantee(privacy: PrivacyStatement) -> str:
    if not privacy.dp:
        return "NOT differentially private"
    return f"({privacy.epsilon:.4g}, {privacy.delta:.3g})-DP per {privacy.unit}"


def record(source: Any, request: Request, *, files: Sequence[str | None] | None = None,
           output: str | None = None, output_format: str | None = None,
           rows: int | None = None, rows_by_source: dict[str, int] | None = None
           ) -> dict[str, Any]:
    """The provenance of ``request``'s rows written to ``output``."""
    from provisioner import __version__

    found = generators_of(source)
    files = list(files) if files is not None else [None] * len(found)
    sources = [source_record(label, generator, weight, file)
               for (label, generator, weight), file in zip(found, files)]
    mixture = source if isinstance(source, Mixture) else None
    return {
        "hzg_version": __version__,
        "sampled_at": _iso(int(time.time())),
        "sampling": {**scheme.describe(), "block_rows": source.block_rows},
        "request": {
            "n": request.n,
            "seed": request.seed,
            "where": [[name, list(values)] for name, values in request.pairs],
            "partition": None if request.partitions == 1 else {
                "index": request.partition, "of": request.partitions,
                "rows": [request.start, request.stop]},
            "weights": None if mixture is None else mixture.weighting,
            "columns": None if mixture is None else mixture.mode,
            "source_column": None if mixture is None else mixture.source_column,
        },
        "output": {"path": output, "format": output_format, "rows": rows,
                   "rows_by_source": rows_by_source},
        "sources": sources,
        "privacy": privacy_statement([(label, g.privacy) for label, g, _ in found]),
    }


def render(record: dict[str, Any]) -> str:
    """The record in a few lines for a terminal."""
    sampling = record["sampling"]
    request = record["request"]
    lines = [f"provenance  scheme {sampling['name']} v{sampling['version']} "
             f"({sampling['block_rows']:,}-row blocks), seed {request['seed']}"
             + (f", weights {request['weights']}" if request["weights"] else "")]
    width = max(len(s["label"]) for s in record["sources"])
    for s in record["sources"]:
        g, signer, p = s["generator"], s["signer"], s["privacy"]
        signed = (f"signed by {signer['name']} (key {signer['key_id']})" if signer["verified"]
                  else "NOT verified")
        dp = (f"({p['epsilon']:.4g}, {p['delta']:.3g})-DP" if p["dp"] else "not DP")
        rows = f"{s['dp_rows']:,} DP rows" if s["dp_rows"] is not None else "no DP row count"
        lines.append(f"  {s['label']:<{width}}  {g['name']} v{g['version']} (id {g['id']}), "
                     f"owner {g['owner']}, {signed}")
        lines.append(f"  {'':<{width}}  payload sha256 {s['payload_sha256']}; {dp}; {rows}; "
                     f"weight {s['weight']:.4f}; created {s['created_at']}, "
                     f"expires {s['expires_at'] or 'never'}")
    by_source = record["output"].get("rows_by_source")
    if by_source:
        total = max(sum(by_source.values()), 1)
        lines.append(f"  {'rows':<{width}}  " + ", ".join(
            f"{label} {count:,} ({count / total:.1%})" for label, count in by_source.items()))
    statement = record["privacy"]["statement"]
    lines.append(f"privacy     {statement[0]}")
    lines.extend(f"            {line}" for line in statement[1:])
    return "\n".join(lines)


__all__ = ("SUFFIX", "generators_of", "guarantee", "privacy_statement", "provenance_path",
           "record", "render", "source_record")
