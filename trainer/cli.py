"""Trainer verbs of the ``hzg`` command: ``train``, ``schema``, ``budget``, ``evaluate``.

``provisioner.cli`` hands these verbs over before parsing, so importing this
module must stay cheap: heavy imports happen inside each verb.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from provisioner._atomic import check_output
from provisioner.cli import _debug_flag, _Parser
from provisioner.errors import ConfigError, KeyFileError
from provisioner.keys import PASSPHRASE_ENV, SigningKey, is_encrypted_key_file, load_signing_key


def load_key_for_signing(path: str) -> SigningKey:
    """Load the owner's key up front, asking for a passphrase if needed."""
    passphrase = None
    if is_encrypted_key_file(path):
        text = os.environ.get(PASSPHRASE_ENV)
        if text is None:
            if not sys.stdin.isatty():
                raise KeyFileError(f"{path} is encrypted; set {PASSPHRASE_ENV}")
            text = getpass.getpass(f"passphrase for {path}: ")
        passphrase = text.encode()
    return load_signing_key(path, passphrase=passphrase)


class ProgressBar:
    """Epoch, ε spent (and the loss, if asked) on one line; a line per epoch
    when not a terminal."""

    def __init__(self, stream=None, *, show_loss: bool = False) -> None:
        self.show_loss = show_loss
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty()
        self.last_loss: float | None = None
        self.last_epsilon: float | None = None

    def __call__(self, p) -> None:  # p: trainer.train.Progress
        if p.loss is not None:
            self.last_loss = p.loss
        if p.epsilon is not None:
            self.last_epsilon = p.epsilon
        if not self.tty and not p.milestone:
            return
        width = 24
        done = int(width * p.step / max(p.steps, 1))
        bar = "#" * done + "." * (width - done)
        loss = f"{self.last_loss:7.3f}" if self.last_loss is not None else "      -"
        eps = f"{self.last_epsilon:.3f}" if self.last_epsilon is not None else "-"
        loss_part = f"loss {loss}  " if self.show_loss else ""
        line = (f"train [{bar}] epoch {p.epoch:5.1f}  step {p.step}/{p.steps}  "
                f"{loss_part}epsilon spent {eps}  {p.elapsed:5.1f}s")
        if self.tty:
            self.stream.write("\r" + line)
            if p.step == p.steps:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _cmd_train(args: argparse.Namespace) -> int:
    # everything that can fail without the data fails before minutes of training
    # (and before seconds of importing JAX)
    out = Path(args.out)
    if out.suffix != ".hzg":
        raise ConfigError(f"--out {out} should end in .hzg")
    check_output(out, overwrite=args.force, what="bundle")
    key = load_key_for_signing(args.key)

    from trainer.config import TrainConfig

    config = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
    privacy: dict[str, object] = {}
    if args.epsilon is not None:
        privacy["epsilon"] = args.epsilon
    if args.delta is not None:
        privacy["delta"] = args.delta
    if args.allow_large_epsilon:
        privacy["allow_large_epsilon"] = True
    if args.insecure_no_dp:
        privacy["enabled"] = False
    changes: dict[str, object] = {"owner": args.owner or config.owner or key.name}
    for name in ("epochs", "batch_size", "max_minutes", "name", "version", "expires_days"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    try:
        config = config.replace(privacy=privacy, **changes)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None

    from provisioner.bundle import decode_bundle
    from provisioner.keys import TrustedKey, TrustStore
    from trainer.train import train

    if not config.privacy.enabled:
        print("hzg: warning: --insecure-no-dp: this generator is NOT differentially "
              "private and its metadata is read exactly from the data", file=sys.stderr)
    reports: list = []
    started = time.perf_counter()
    bundle = train(args.data, config, declarations=args.schema,
                   progress=ProgressBar(show_loss=args.show_loss), report=reports,
                   show_loss=args.show_loss, encoding=args.encoding,
                   null_values=_null_values(args.null_values))
    bundle.save(out, key, overwrite=args.force)
    report = reports[0]
    for notice in report.notices:
        print(f"hzg: notice: {notice}", file=sys.stderr)
    opened = decode_bundle(out.read_bytes(),
                           trust=TrustStore([TrustedKey(key.public_key, key.name, "own")]))
    privacy_plain = opened.header.privacy
    size = out.stat().st_size
    if privacy_plain["dp"]:
        spent = (f"epsilon spent {privacy_plain['epsilon']:.4f} of {config.privacy.epsilon:g}, "
                 f"delta {privacy_plain['delta']:.3g} ({privacy_plain['accountant']})")
    else:
        spent = "NOT differentially private"
    print(spent)
    print(f"steps        {report.steps_taken} of {report.steps_planned}"
          + (" (stopped by --max-minutes)" if report.stopped_early else "")
          + f", sampling rate {report.sampling_prob:.4f}"
          + (f", noise multiplier {report.noise_multiplier:.3f}"
             if report.noise_multiplier else ""))
    print(f"time         {time.perf_counter() - started:.1f} s "
          f"(compile {report.compile_seconds:.1f} s, train {report.train_seconds:.1f} s)")
    print(f"bundle       {out} ({size / 1000:.1f} KB), generator id "
          f"{opened.header.generator.id}, signed by {key.name} (key {key.key_id})")
    return 0


def _null_values(text: str | None) -> tuple[str, ...]:
    """``--null-values "NA,?"``: the empty cell plus each listed text."""
    if text is None:
        return ("",)
    return ("", *(v for v in text.split(",")))


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.output:  # before reading (and importing pandas)
        check_output(args.output, overwrite=args.force, what="schema file")
    from provisioner.bundle import write_atomic
    from trainer.declarations import draft_schema
    from trainer.intake import exact_types
    from trainer.load import read_table

    table = exact_types(read_table(args.data, encoding=args.encoding,
                                   null_values=_null_values(args.null_values)))
    text = draft_schema(table, with_values=args.with_values)
    if args.output:
        path = write_atomic(args.output, text.encode("utf-8"), overwrite=args.force,
                            what="schema file")
        print(f"wrote {path}; review it before training", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.with_values:
        print("hzg: warning: the drafted values were read from your data without "
              "privacy protection; keep only what is truly public", file=sys.stderr)
    return 0


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _refuse_overwrite(paths: Sequence[str | None], force: bool) -> None:
    """Each output can be written (folder, permission, not a folder) and is new
    unless ``force``: checked before the evaluation starts."""
    for path in paths:
        if path:
            check_output(path, overwrite=force)


def _write_text(path: str, text: str, overwrite: bool = False) -> None:
    from provisioner._atomic import atomic_output

    with atomic_output(path, overwrite=overwrite) as temp:
        Path(temp).write_text(text, encoding="utf-8")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from provisioner.cli import open_from_args
    from provisioner.generator import Generator
    from trainer.evaluate import evaluate_generator
    from trainer.evaluate.frames import read_real
    from trainer.evaluate.report import render_html

    from provisioner._checks import positive_int

    if not args.output.endswith((".html", ".htm")):
        raise ConfigError(f"-o {args.output} should end in .html")
    positive_int(**{"--attacks": args.attacks})
    if args.rows is not None:
        positive_int(**{"--rows": args.rows})
    _refuse_overwrite([args.output, args.json, args.embed_summary], args.force)
    if args.embed_summary and not args.embed_summary.endswith(".hzg"):
        raise ConfigError(f"--embed-summary {args.embed_summary} should end in .hzg")
    if args.embed_summary and not args.key:
        raise ConfigError("--embed-summary writes a newly signed copy: give --key OWNER.key")
    key = load_key_for_signing(args.key) if args.embed_summary else None
    args.signing_key = key
    if args.sweep is not None:
        if args.embed_summary:
            raise ConfigError("--embed-summary adds a summary to one bundle; not with --sweep")
        return _sweep(args)
    if args.bundle is None:
        raise ConfigError("give the generator to evaluate (MODEL.hzg), or --sweep to train "
                          "and evaluate at several epsilons")
    if args.data is not None:
        raise ConfigError("--data is the table --sweep trains on; without --sweep leave it out")
    opened = open_from_args(args, args.bundle)
    generator = Generator.from_opened(opened)
    train, holdout = read_real(args.real), read_real(args.holdout)
    result = evaluate_generator(
        generator, train, holdout, rows=args.rows, seed=args.seed, attacks=args.attacks,
        target=args.target,
        sensitive=_columns(args.sensitive), quasi_identifiers=_columns(args.quasi_identifiers))
    _write_text(args.output, render_html(result), overwrite=args.force)
    if args.embed_summary:
        _embed_summary(args, opened, result)
    if args.json:
        _write_text(args.json, json.dumps(result.to_plain(), indent=2, sort_keys=True,
                                          allow_nan=False) + "\n", overwrite=args.force)
    print("hzg: warning: these metrics were computed on the real data and are NOT "
          "differentially private; keep the report on-prem", file=sys.stderr)
    for verdict in result.verdicts():
        print(f"{verdict.status:<5}  {verdict.area}: {verdict.finding}")
    if args.embed_summary:
        print(f"summary      {args.embed_summary} (newly signed; its source_statistics "
              "section is NOT DP)")
    print(f"report       {args.output}" + (f"\nmetrics      {args.json}" if args.json else ""))
    return 0


def _embed_summary(args: argparse.Namespace, opened, result) -> None:
    """A newly signed copy of the bundle with the non-DP summary in its own section."""
    import dataclasses

    from provisioner.bundle import decode_bundle
    from provisioner.keys import TrustedKey, TrustStore
    from provisioner.source_statistics import SourceStatistics
    from trainer import __version__

    key = args.signing_key
    section = SourceStatistics.of(result.summary(), evaluator=f"hzg evaluate {__version__}",
                                  computed_at=int(time.time()))
    copy = dataclasses.replace(opened.bundle, source_statistics=section.to_plain())
    copy.save(args.embed_summary, key, overwrite=args.force)
    # read it back the way a reader will, with the owner's key as the only trust
    decode_bundle(Path(args.embed_summary).read_bytes(),
                  trust=TrustStore([TrustedKey(key.public_key, key.name, "own")]))
    print(f"hzg: warning: {args.embed_summary} carries these NON-DP figures in its "
          "source_statistics section; share it only if you mean to", file=sys.stderr)


def _sweep(args: argparse.Namespace) -> int:
    from trainer.config import TrainConfig
    from trainer.evaluate import evaluate_generator
    from trainer.evaluate.frames import read_real
    from trainer.evaluate.sweep import parse_epsilons, render_sweep_html, sweep
    from trainer.train import train

    if args.bundle is not None:
        raise ConfigError("--sweep trains its own generators: leave out MODEL.hzg")
    if args.data is None:
        raise ConfigError("--sweep needs --data TRAIN, the table to train on")
    epsilons = parse_epsilons(args.sweep)
    base = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
    data = read_real(args.data)
    train_rows, holdout = read_real(args.real), read_real(args.holdout)

    def train_at(eps: float):
        return train(data, base.replace(privacy={"epsilon": eps}), declarations=args.schema)

    def evaluate_one(generator):
        return evaluate_generator(generator, train_rows, holdout, rows=args.rows,
                                  seed=args.seed, attacks=args.attacks, target=args.target,
                                  sensitive=_columns(args.sensitive),
                                  quasi_identifiers=_columns(args.quasi_identifiers))

    result = sweep(train_at, evaluate_one, epsilons,
                   progress=lambda text: print(f"hzg: {text}", file=sys.stderr))
    _write_text(args.output, render_sweep_html(result), overwrite=args.force)
    if args.json:
        _write_text(args.json, json.dumps(result.to_plain(), indent=2, sort_keys=True,
                                          allow_nan=False) + "\n", overwrite=args.force)
    print("hzg: warning: these metrics were computed on the real data and are NOT "
          "differentially private; keep the report on-prem", file=sys.stderr)
    for p in result.points:
        score = "" if p.target_score is None else f", {result.metric} {p.target_score:.3f}"
        print(f"epsilon {p.epsilon:<6g} spent {p.spent_epsilon:.4f}: 1-way TVD "
              f"{p.tvd_1way_mean:.3f}, 2-way TVD {p.tvd_2way_mean:.3f}{score}, "
              f"MIA AUC {p.mia_auc:.3f}")
    print(f"total spent  epsilon {result.total_epsilon:.4g}, delta {result.total_delta:.3g}: "
          "each training spent its own budget on the same people")
    print(f"report       {args.output}" + (f"\nmetrics      {args.json}" if args.json else ""))
    return 0


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    from provisioner.cli import _trust_arguments

    parser.add_argument("bundle", metavar="MODEL.hzg", nargs="?",
                        help="the generator to evaluate (not with --sweep)")
    _trust_arguments(parser)
    parser.add_argument("--real", required=True, metavar="TRAIN",
                        help="the real rows the generator was trained on (CSV or Parquet)")
    parser.add_argument("--holdout", required=True, metavar="HOLDOUT",
                        help="real rows of the same population it never saw")
    parser.add_argument("--target", metavar="COL", help="column to predict (utility, bias)")
    parser.add_argument("--sensitive", metavar="COLS",
                        help="comma-separated columns whose groups the bias view compares")
    parser.add_argument("--quasi-identifiers", metavar="COLS",
                        help="comma-separated columns of the uniqueness (k-anonymity) view")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT.html",
                        help="where to write the self-contained HTML report")
    parser.add_argument("--json", metavar="METRICS.json", help="also write every figure as JSON")
    parser.add_argument("--rows", type=int, metavar="N",
                        help="synthetic rows to draw (default: as many as --real)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the synthetic sample and the attacks (default 0)")
    parser.add_argument("--attacks", type=int, default=500,
                        help="attacks per singling-out, linkability and inference risk "
                             "(default 500)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.add_argument("--embed-summary", metavar="OUT.hzg",
                        help="write a newly signed copy of the bundle carrying a short summary "
                             "in its 'non-DP statistics of the source' section (needs --key)")
    parser.add_argument("--key", metavar="OWNER.key",
                        help="with --embed-summary: the owner's signing key")
    parser.add_argument("--sweep", metavar="EPSILONS",
                        help="train on --data at each of these epsilons (e.g. 0.5,1,2,4) and "
                             "plot utility against epsilon; the budgets add up")
    parser.add_argument("--data", metavar="TRAIN", help="with --sweep: the table to train on")
    parser.add_argument("--schema", help="with --sweep: schema file of public declarations")
    parser.add_argument("--config", help="with --sweep: TOML file of training settings")


def _reading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding", default="utf-8",
                        help="text encoding of a CSV (default utf-8; e.g. latin-1, cp1252)")
    parser.add_argument("--null-values", metavar="TEXTS",
                        help='comma-separated cell texts read as null besides the empty '
                        'cell, e.g. "NA,?,n/a"')


def build_parser() -> argparse.ArgumentParser:
    common = _debug_flag()
    parser = _Parser(prog="hzg", parents=[common])
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                  parser_class=_Parser)

    train = verbs.add_parser("train", parents=[common],
                             help="train a generator on a table and write a signed .hzg")
    train.add_argument("data", metavar="DATA", help="CSV (optionally .gz) or Parquet file")
    train.add_argument("--key", required=True, help="the owner's signing key (NAME.key)")
    train.add_argument("--out", required=True, help="where to write MODEL.hzg")
    train.add_argument("--force", action="store_true", help="replace MODEL.hzg if it exists")
    train.add_argument("--epsilon", type=float, help="privacy budget epsilon (default 1.0)")
    train.add_argument("--delta", type=float, help="privacy budget delta (default 1e-6)")
    train.add_argument("--epochs", type=float, help="passes over the data (default 20)")
    train.add_argument("--batch-size", type=int,
                       help="expected rows per step (default: about rows / 13)")
    train.add_argument("--schema", help="schema file (TOML/JSON) of public declarations")
    train.add_argument("--config", help="TOML file of training settings")
    train.add_argument("--max-minutes", type=float, help="stop training after this long")
    train.add_argument("--name", help='generator name (default "generator")')
    train.add_argument("--owner", help="owner recorded in the bundle (default: key name)")
    train.add_argument("--version", type=int, help="generator version (default 1)")
    train.add_argument("--expires-days", type=float, help="readers refuse it after this")
    train.add_argument("--allow-large-epsilon", action="store_true",
                       help="permit epsilon above 20")
    train.add_argument("--insecure-no-dp", action="store_true",
                       help="train WITHOUT differential privacy (for comparisons only)")
    train.add_argument("--show-loss", action="store_true",
                       help="show the training loss (computed on real rows: NOT DP)")
    _reading_options(train)
    train.set_defaults(run=_cmd_train)

    schema = verbs.add_parser("schema", parents=[common],
                              help="draft a schema file for a table, for you to review")
    schema.add_argument("data", metavar="DATA")
    schema.add_argument("-o", "--output", help="write to this file instead of stdout")
    schema.add_argument("--force", action="store_true", help="replace the file if it exists")
    schema.add_argument("--with-values", action="store_true",
                        help="include categories and bounds READ FROM THE DATA")
    _reading_options(schema)
    schema.set_defaults(run=_cmd_schema)

    from trainer import budget

    budget_parser = verbs.add_parser("budget", parents=[common],
                                     help=budget.__doc__.split("\n")[0])
    budget.add_arguments(budget_parser)
    budget_parser.set_defaults(run=budget.run)

    evaluate = verbs.add_parser("evaluate", parents=[common],
                                help="measure a generator's utility and privacy against the "
                                     "real rows; an HTML report (on-prem, not DP)")
    _evaluate_arguments(evaluate)
    evaluate.set_defaults(run=_cmd_evaluate)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    return args.run(args)
