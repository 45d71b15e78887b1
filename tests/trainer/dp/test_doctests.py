"""The runnable examples in the DP modules' docstrings stay true."""

from __future__ import annotations

import doctest

import pytest

from trainer.dp import accounting, sampling


@pytest.mark.parametrize("module", [accounting, sampling], ids=lambda m: m.__name__)
def test_module_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
