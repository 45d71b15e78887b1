"""Trainer verbs of the ``hzg`` command: ``train``, ``schema``, ``budget``.

``provisioner.cli`` hands these verbs over before parsing, so importing this
module must stay cheap: heavy imports happen inside each verb.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from provisioner.cli import _debug_flag, _Parser


def build_parser() -> argparse.ArgumentParser:
    common = _debug_flag()
    parser = _Parser(prog="hzg", parents=[common])
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                  parser_class=_Parser)

    from trainer import budget

    budget_parser = verbs.add_parser("budget", parents=[common], help=budget.__doc__.split("\n")[0])
    budget.add_arguments(budget_parser)
    budget_parser.set_defaults(run=budget.run)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    return args.run(args)
