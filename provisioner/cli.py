"""The ``hzg`` command.

The verbs follow the data flow: ``keygen`` and ``train`` on-prem, then
``verify``, ``inspect``, ``sample`` and ``aggregate`` wherever the bundles go. Training
verbs live in ``trainer.cli`` and are loaded only when asked for, so the
light install answers ``hzg verify`` without JAX.

Errors print one line, ``hzg: error: ...``, and exit 1 (2 for a usage
error); ``--debug`` (or ``HZG_DEBUG=1``) shows the traceback instead. Ctrl-C
and SIGTERM stop a command the same way: whatever it was writing is removed,
and it exits 130 (143 for SIGTERM). Outputs are checked before any work, and
an existing file is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from provisioner import inspection
from provisioner._atomic import check_output
from provisioner.bundle import OpenedBundle, open_bundle
from provisioner.errors import ConfigError, HzgError, MissingDependency
from provisioner.generator import Generator
from provisioner.keys import PASSPHRASE_ENV, TrustStore, write_key_pair

TRAINER_COMMANDS = {
    "train": "train a generator on a table and write a signed .hzg (on-prem)",
    "schema": "draft a schema file for a table, for you to review",
    "budget": "plan a privacy budget: epsilon for a noise level, or the reverse",
    "evaluate": "measure a generator's utility and privacy against the real rows (on-prem)",
}
# What each trainer verb imports: checked first, so a light install names the
# extra to install instead of failing inside the verb.
TRAINER_NEEDS = {
    "train": ("jax", "optax", "pandas", "dp_accounting"),
    "schema": ("pandas",),
    "budget": ("dp_accounting",),
    "evaluate": ("pandas", "sklearn", "matplotlib"),
}
TRAINER_EXTRAS = {"evaluate": "train,evaluate"}  # the pip extra each verb needs
EXIT_ERROR = 1
EXIT_INTERNAL = 3
# Cells of one batch of rows handed to a sink: keeps a batch of the widest
# schema within a few tens of MB whatever --batch-size says.
BATCH_CELLS = 1 << 20


class _Parser(argparse.ArgumentParser):
    """argparse that keeps the one-line error contract (exit 2 on usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"hzg: error: {message} (see '{self.prog} --help')\n")


def _debug_flag() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true",
                        help="show a traceback when something fails")
    return parent


def _trust_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust", action="append", metavar="PATH", default=[],
        help="a trusted .pub file or a folder of them (repeatable; default $HZG_TRUST)",
    )
    parser.add_argument(
        "--insecure-skip-verify", action="store_true",
        help="read an unsigned or untrusted bundle without checking its signature",
    )


def trust_from_args(args: argparse.Namespace) -> TrustStore | None:
    if args.trust:
        return TrustStore.from_paths(args.trust)
    return TrustStore.from_env()


def open_from_args(args: argparse.Namespace, path: str) -> OpenedBundle:
    """Open a bundle as the user asked, warning when checks are skipped."""
    trust = None if args.insecure_skip_verify else trust_from_args(args)
    if args.insecure_skip_verify:
        warn("--insecure-skip-verify: the signature is NOT checked; anyone could have "
             "written or altered this bundle")
    return open_bundle(path, trust=trust, insecure_skip_verify=args.insecure_skip_verify)


def warn(message: str) -> None:
    print(f"hzg: warning: {message}", file=sys.stderr)


# --- verbs ------------------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if args.passphrase:
        if not sys.stdin.isatty():
            raise ConfigError(f"--passphrase asks for a passphrase in a terminal; without "
                              f"one, set {PASSPHRASE_ENV} instead")
        first = getpass.getpass(f"passphrase for {args.name}.key: ")
        if first != getpass.getpass("again: "):
            raise ConfigError("the two passphrases differ; nothing was written")
        passphrase = first
    paths = write_key_pair(
        args.name, args.dir, passphrase=passphrase.encode() if passphrase else None
    )
    print(f"key id      {paths.key_id}")
    print(f"private key {paths.private_key} (mode 0600"
          + (", encrypted)" if passphrase else ", not encrypted)"))
    print(f"public key  {paths.public_key} (give this one to readers)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    # every bundle is checked before anything is printed: one that fails
    # fails the command with one line naming it, as aggregate does
    verdicts = []
    for path in args.bundles:
        opened = _open_named(args, path)
        try:
            verdicts.append(inspection.verdict(opened, Generator.from_opened(opened)))
        except HzgError as exc:
            if len(args.bundles) < 2:
                raise
            raise _named(exc, path) from None
    if len(verdicts) == 1:
        print(verdicts[0])
    else:
        for path, line in zip(args.bundles, verdicts):
            print(f"{inspection.shown(path)}: {line}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    opened = [_open_named(args, path) for path in args.bundles]
    generators = [Generator.from_opened(o) for o in opened]
    if args.json:
        summaries = [inspection.summary(o) for o in opened]
        json.dump(summaries[0] if len(summaries) == 1 else summaries, sys.stdout, indent=2,
                  sort_keys=True)
        print()
    elif len(opened) == 1:
        print(inspection.render(opened[0], generators[0]))
    else:
        print(inspection.render_side_by_side(args.bundles, opened, generators))
    return 0


def _open_named(args: argparse.Namespace, path: str) -> OpenedBundle:
    """Open one of several bundles; an error names the bundle it is about."""
    try:
        return open_from_args(args, path)
    except HzgError as exc:
        if len(args.bundles) < 2 and args.command != "aggregate":
            raise
        raise _named(exc, path) from None


def _named(exc: HzgError, path: str) -> HzgError:
    """The same error class, its message prefixed by the bundle's path."""
    named = HzgError.__new__(type(exc))
    HzgError.__init__(named, f"{path}: {exc}")
    return named


def _cmd_sample(args: argparse.Namespace) -> int:
    _check_output(args.output, args.force)
    opened = open_from_args(args, args.bundle)
    return _write(Generator.from_opened(opened), args, [args.bundle], show_provenance=False)


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from provisioner.aggregate import aggregate

    _check_output(args.output, args.force)
    weights = _weights(args.weights, len(args.bundles))
    generators = []
    for path in args.bundles:  # every bundle verified before anything is sampled
        opened = _open_named(args, path)
        try:
            generators.append(Generator.from_opened(opened))
        except HzgError as exc:
            raise _named(exc, path) from None
    mixture = aggregate(generators, weights=weights, columns=args.columns,
                        source_column=args.source_column)
    return _write(mixture, args, args.bundles, show_provenance=True)


def _check_output(output: str | None, force: bool) -> None:
    """Fail before any work on an output that cannot be written (or exists)."""
    from provisioner import provenance
    from provisioner.sinks import output_format, require_format

    if output is not None:
        require_format(output_format(output))
        check_output(output, overwrite=force)
        check_output(provenance.provenance_path(output), overwrite=force,
                     what="provenance file")


def _weights(text: str, count: int) -> str | list[float]:
    if text in ("rows", "equal"):
        return text
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--weights takes rows, equal or numbers like 2,1; not {text!r}") \
            from None
    if len(values) != count:
        raise ConfigError(f"--weights gives {len(values)} numbers for {count} generators")
    return values


def _partition(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    index, sep, count = text.partition("/")
    try:
        i, k = int(index), int(count)
    except ValueError:
        i = k = -1
    if not sep or k < 1 or not 0 <= i < k:
        raise ConfigError(f"--partition takes I/K with 0 <= I < K (e.g. 0/4), not {text!r}")
    return i, k


def _write(source: object, args: argparse.Namespace, files: Sequence[str], *,
           show_provenance: bool) -> int:
    """Sample ``source`` as the arguments say, write rows and provenance."""
    from provisioner import provenance
    from provisioner.progress import TerminalProgress
    from provisioner.sampling import Request, available_cores, batches, check_count
    from provisioner.sinks import output_format, write_rows

    check_count(batch_size=args.batch_size)
    partition, partitions = _partition(args.partition)
    request = Request(source, args.n, seed=args.seed, where=args.where,
                      partition=partition, partitions=partitions)
    kind = output_format(args.output) if args.output is not None else ".csv"
    _guard_size(source, request, kind, args)
    where = " ".join(f"--where {w}" for w in (args.where or []))
    meter = TerminalProgress(request.rows, conditions=where)
    # a batch of the widest schema stays small whatever --batch-size says
    batch_size = max(1, min(args.batch_size, max(source.block_rows,
                                                 BATCH_CELLS // len(source.columns))))
    stream = batches(request, batch_size, available_cores(), meter)
    counts = None
    column = getattr(source, "source_column", None)
    if column is not None:
        counts = [0] * len(source.labels)
        stream = _counting(stream, column, counts)
    start = time.perf_counter()
    try:
        # closing(): an interrupt stops the sampling threads here, before exit
        with contextlib.closing(stream):
            rows = write_rows(stream, source.columns, args.output, overwrite=args.force,
                              formula_guard=not args.no_formula_guard)
    finally:
        meter.close()
    seconds = time.perf_counter() - start
    by_source = None if counts is None else dict(zip(source.labels, counts))
    record = provenance.record(source, request, files=files, output=args.output,
                               output_format=None if args.output is None else kind,
                               rows=rows, rows_by_source=by_source)
    if args.output is not None:
        from provisioner.bundle import write_atomic

        path = provenance.provenance_path(args.output)
        write_atomic(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(),
                     overwrite=args.force, what="provenance file")
        print(f"wrote {rows:,} rows to {args.output} in {seconds:.1f} s "
              f"({rows / max(seconds, 1e-9):,.0f} rows/s); provenance in {path}",
              file=sys.stderr)
    if show_provenance:
        print(provenance.render(record), file=sys.stderr)
    return 0


def _counting(stream, column: str, counts: list[int]):
    import numpy as np

    for batch in stream:
        found = np.bincount(batch.codes[column], minlength=len(counts))
        for k, c in enumerate(found.tolist()):
            counts[k] += c
        yield batch


# above this estimate a run asks for --yes; above NOTE_BYTES it says how much
LARGE_OUTPUT_BYTES = 10 * 10**9
NOTE_BYTES = 10**9


def _guard_size(source: object, request: object, kind: str,
                args: argparse.Namespace) -> None:
    from provisioner.sampling import sample
    from provisioner.sinks import estimate_bytes_per_row

    if request.rows * 8 < NOTE_BYTES:  # no row format is under 8 bytes
        return
    probe = sample(source, min(request.rows, source.block_rows), seed=0, threads=1)
    size = estimate_bytes_per_row(probe, kind) * request.rows
    target = args.output or "stdout"
    if size < NOTE_BYTES:
        return
    text = (f"about {_bytes(size)} will be written to {target} "
            f"(estimated from {probe.num_rows:,} rows)")
    if size > LARGE_OUTPUT_BYTES and not args.yes:
        if sys.stdin.isatty() and sys.stderr.isatty():
            print(f"hzg: {text}; go ahead? [y/N] ", end="", file=sys.stderr, flush=True)
            if sys.stdin.readline().strip().lower() in ("y", "yes"):
                return
        raise ConfigError(f"{text}; pass --yes to go ahead, or ask for fewer rows with -n")
    print(f"hzg: {text}", file=sys.stderr)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=int, required=True, help="number of rows")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="OUT.csv, OUT.csv.gz or OUT.parquet (default: CSV on stdout); "
                             "provenance goes to OUT.provenance.json")
    parser.add_argument("--seed", type=int,
                        help="make the output reproducible (same rows for any --batch-size)")
    parser.add_argument("--where", action="append", metavar="COL=VALUE",
                        help="only rows with this value (repeatable; COL= means null)")
    parser.add_argument("--partition", metavar="I/K",
                        help="write only partition I (0-based) of K of the -n rows; the K "
                             "partitions concatenate to the whole output (needs --seed)")
    parser.add_argument("--batch-size", type=int, default=65536,
                        help="rows formatted and written at a time (memory, not output)")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT (and its provenance file) if they exist")
    parser.add_argument("--no-formula-guard", action="store_true",
                        help="write text cells exactly, even those starting with = + - @ "
                             "that spreadsheets would run as formulas")
    parser.add_argument("--yes", action="store_true",
                        help=f"write even when the output is estimated above "
                             f"{LARGE_OUTPUT_BYTES // 10**9} GB")


# --- entry point ------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = _debug_flag()
    parser = _Parser(prog="hzg", description=__doc__.split("\n\n")[0], parents=[common])
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                  parser_class=_Parser)

    keygen = verbs.add_parser("keygen", parents=[common],
                              help="make an Ed25519 key pair NAME.key / NAME.pub")
    keygen.add_argument("name", metavar="NAME")
    keygen.add_argument("--dir", default=".", help="folder to write into (default .)")
    keygen.add_argument(
        "--passphrase", action="store_true",
        help=f"encrypt NAME.key with a passphrase you type (or set ${PASSPHRASE_ENV})",
    )
    keygen.set_defaults(run=_cmd_keygen)

    verify = verbs.add_parser("verify", parents=[common],
                              help="check bundles' signatures and structure")
    verify.add_argument("bundles", metavar="BUNDLE", nargs="+")
    _trust_arguments(verify)
    verify.set_defaults(run=_cmd_verify)

    inspect = verbs.add_parser("inspect", parents=[common],
                               help="summarise bundles: columns, model, privacy, signer "
                                    "(several side by side)")
    inspect.add_argument("bundles", metavar="BUNDLE", nargs="+")
    inspect.add_argument("--json", action="store_true", help="print JSON for machines")
    _trust_arguments(inspect)
    inspect.set_defaults(run=_cmd_inspect)

    sample = verbs.add_parser("sample", parents=[common],
                              help="write synthetic rows from a bundle (CSV, Parquet)")
    sample.add_argument("bundle", metavar="BUNDLE")
    _sampling_arguments(sample)
    _trust_arguments(sample)
    sample.set_defaults(run=_cmd_sample)

    aggregate = verbs.add_parser(
        "aggregate", parents=[common],
        help="write synthetic rows mixed from several owners' bundles")
    aggregate.add_argument("bundles", metavar="BUNDLE", nargs="+")
    _sampling_arguments(aggregate)
    aggregate.add_argument(
        "--weights", default="rows", metavar="rows|equal|W1,W2,...",
        help="share of each bundle: rows (default: its DP row count), equal, or numbers")
    aggregate.add_argument("--source-column", metavar="NAME",
                           help="add a column NAME holding each row's source")
    aggregate.add_argument("--columns", choices=("union", "intersect"), default="union",
                           help="keep every column (absent ones null; default) or only "
                                "those all bundles have")
    _trust_arguments(aggregate)
    aggregate.set_defaults(run=_cmd_aggregate)

    for name, summary in TRAINER_COMMANDS.items():
        verbs.add_parser(name, help=f"{summary} [needs hzg[train]]", add_help=False)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be so the same clean-up runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def _run_guarded(debug: bool, body: Callable[[], int]) -> int:
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run_body(debug, body)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    print(f"hzg: error: {inspection.shown(' '.join(message.split()))}", file=sys.stderr)


def _run_body(debug: bool, body: Callable[[], int]) -> int:
    try:
        code = body()
        sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at exit
        return code
    except HzgError as exc:
        if debug:
            raise
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        print("hzg: " + ("terminated" if terminated else "interrupted")
              + "; nothing was left half-written", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # the reader of our stdout went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # e.g. stdout on a full disk
        if debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}; nothing was left half-written")
        return EXIT_ERROR
    except MemoryError:
        if debug:
            raise
        _error("out of memory; close other programs or sample fewer rows at a time "
               "(--batch-size)")
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line unless asked for more
        if debug:
            raise
        print(inspection.shown(
            f"hzg: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(rerun with --debug for a traceback and please report it)"),
            file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list or os.environ.get("HZG_DEBUG") == "1"
    if args_list and args_list[0] in TRAINER_COMMANDS:
        return _run_guarded(debug, lambda: _trainer_main(args_list))
    args = build_parser().parse_args(args_list)
    return _run_guarded(debug or args.debug, lambda: args.run(args))


def _trainer_main(argv: list[str]) -> int:
    wants_help = any(a in ("-h", "--help") for a in argv[1:])
    missing = []
    for module in TRAINER_NEEDS.get(argv[0], TRAINER_NEEDS["train"]) if not wants_help else ():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module.replace("_", "-"))
    try:
        if missing:
            raise ImportError(name=missing[0])
        from trainer import cli as trainer_cli
    except ImportError as exc:
        names = ", ".join(missing) or exc.name or str(exc)
        extra = TRAINER_EXTRAS.get(argv[0], "train")
        raise MissingDependency(
            f"'hzg {argv[0]}' needs the training extras ({names} missing); install them "
            f"with: pip install 'hzg[{extra}]' (from a clone: pip install -e '.[{extra}]')"
        ) from None
    return trainer_cli.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main", "open_from_args", "trust_from_args", "warn"]
