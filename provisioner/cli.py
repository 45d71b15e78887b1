"""The ``hzg`` command.

The verbs follow the data flow: ``keygen`` and ``train`` on-prem, then
``verify``, ``inspect`` and ``sample`` wherever the bundle goes. Training
verbs live in ``trainer.cli`` and are loaded only when asked for, so the
light install answers ``hzg verify`` without JAX.

Errors print one line, ``hzg: error: ...``, and exit 1; ``--debug`` (or
``HZG_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from provisioner import inspection
from provisioner.bundle import OpenedBundle, open_bundle
from provisioner.errors import ConfigError, HzgError, MissingDependency
from provisioner.generator import Generator
from provisioner.keys import PASSPHRASE_ENV, TrustStore, write_key_pair

TRAINER_COMMANDS = {
    "train": "train a generator on a table and write a signed .hzg (on-prem)",
    "schema": "draft a schema file for a table, for you to review",
    "budget": "plan a privacy budget: epsilon for a noise level, or the reverse",
}
EXIT_ERROR = 1
EXIT_INTERNAL = 3


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
    opened = open_from_args(args, args.bundle)
    print(inspection.verdict(opened, Generator.from_opened(opened)))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    opened = open_from_args(args, args.bundle)
    generator = Generator.from_opened(opened)
    if args.json:
        json.dump(inspection.summary(opened), sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(inspection.render(opened, generator))
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from provisioner.sinks import output_format, write_rows

    if args.output is not None:
        output_format(args.output)  # an unknown format fails before any work
    opened = open_from_args(args, args.bundle)
    generator = Generator.from_opened(opened)
    batches = generator.iter_batches(args.n, batch_size=args.batch_size, seed=args.seed,
                                     where=args.where)
    start = time.perf_counter()
    rows = write_rows(batches, generator.schema.columns, args.output)
    if args.output is not None:
        seconds = time.perf_counter() - start
        print(f"wrote {rows:,} rows to {args.output} in {seconds:.1f} s "
              f"({rows / max(seconds, 1e-9):,.0f} rows/s)", file=sys.stderr)
    return 0


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
                              help="check a bundle's signature and structure")
    verify.add_argument("bundle", metavar="BUNDLE")
    _trust_arguments(verify)
    verify.set_defaults(run=_cmd_verify)

    inspect = verbs.add_parser("inspect", parents=[common],
                               help="summarise a bundle: columns, model, privacy, signer")
    inspect.add_argument("bundle", metavar="BUNDLE")
    inspect.add_argument("--json", action="store_true", help="print JSON for machines")
    _trust_arguments(inspect)
    inspect.set_defaults(run=_cmd_inspect)

    sample = verbs.add_parser("sample", parents=[common],
                              help="write synthetic rows from a bundle (CSV, Parquet)")
    sample.add_argument("bundle", metavar="BUNDLE")
    sample.add_argument("-n", type=int, required=True, help="number of rows")
    sample.add_argument("-o", "--output", metavar="OUT",
                        help="OUT.csv, OUT.csv.gz or OUT.parquet (default: CSV on stdout)")
    sample.add_argument("--seed", type=int,
                        help="make the output reproducible (same rows for any --batch-size)")
    sample.add_argument("--where", action="append", metavar="COL=VALUE",
                        help="only rows with this value (repeatable; COL= means null)")
    sample.add_argument("--batch-size", type=int, default=65536,
                        help="rows formatted and written at a time (memory, not output)")
    _trust_arguments(sample)
    sample.set_defaults(run=_cmd_sample)

    for name, summary in TRAINER_COMMANDS.items():
        verbs.add_parser(name, help=f"{summary} [needs hzg[train]]", add_help=False)
    return parser


def _run_guarded(debug: bool, body: Callable[[], int]) -> int:
    try:
        return body()
    except HzgError as exc:
        if debug:
            raise
        print(f"hzg: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hzg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our stdout went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: still one line unless asked for more
        if debug:
            raise
        print(f"hzg: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for a traceback and please report it)",
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
    try:
        from trainer import cli as trainer_cli
    except ImportError as exc:
        raise MissingDependency(
            f"'hzg {argv[0]}' needs the training extras ({exc.name or exc} is missing): "
            "pip install 'hzg[train]'"
        ) from None
    return trainer_cli.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main", "open_from_args", "trust_from_args", "warn"]
