"""MADE over column tokens, numpy half (twin of ``trainer/models/made.py``).

The model factorises a row as p(x_1) p(x_2 | x_1) ... p(x_C | x_<C) over the
modelled columns, each a categorical distribution over that column's tokens.
Its input is the concatenated one-hot encoding of all tokens (width V); the
hidden layers and the output are masked so that column c only sees columns
before it (Germain et al., 2015, "MADE"). A masked direct input -> output
layer makes each conditional a logistic regression plus the MLP.

Degrees fix the masks (HZG.md, "Model family made"): input and output units
of column c have degree c (1-based); unit j of a hidden layer of width H has
degree 1 + floor(j (C-1) / H) (1 when C = 1), so degrees never decrease
along a layer. A hidden unit of degree d sees columns <= d and feeds the
outputs of columns > d. Stored weights are already masked (zeros where the
mask is 0); the reader checks that.

Sampling is incremental: after column c-1 is drawn, only the hidden units of
degree c-1 are new, so a whole row costs about one forward pass instead of
one per column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from provisioner._blas import single_threaded_blas
from provisioner.bundle.fields import Fields
from provisioner.errors import MalformedHeader, MalformedPayload

FAMILY = "made"
ACTIVATIONS = ("relu",)
MAX_WIDTH = 65536


@dataclasses.dataclass(frozen=True)
class MadeConfig:
    """Architecture of a MADE generator.

    Attributes:
      token_counts: tokens per modelled column, in model order.
      hidden: widths of the hidden layers.
      direct: whether a masked input -> output layer is present.
      activation: hidden activation; "relu".
    """

    token_counts: tuple[int, ...]
    hidden: tuple[int, ...]
    direct: bool = True
    activation: str = "relu"

    @property
    def num_columns(self) -> int:
        return len(self.token_counts)

    @property
    def vocab_size(self) -> int:
        return sum(self.token_counts)

    @property
    def offsets(self) -> np.ndarray:
        """Start of each column's tokens in the one-hot layout (length C+1)."""
        return np.concatenate([[0], np.cumsum(self.token_counts)]).astype(np.int64)

    def to_plain(self) -> dict[str, Any]:
        return {"activation": self.activation, "direct": self.direct,
                "hidden": list(self.hidden), "token_counts": list(self.token_counts)}

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool = True) -> MadeConfig:
        f = Fields(plain, "header.model.config", strict=strict)
        counts = f.array("token_counts")
        hidden = f.array("hidden")
        config = cls(
            token_counts=tuple(counts),
            hidden=tuple(hidden),
            direct=f.boolean("direct"),
            activation=f.string("activation"),
        )
        f.done()
        for name, values in (("token_counts", counts), ("hidden", hidden)):
            if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_WIDTH
                   for v in values):
                raise MalformedHeader(
                    f"header.model.config.{name} must hold integers in 1..{MAX_WIDTH}"
                )
        if not counts or len(hidden) > 8 or config.vocab_size > MAX_WIDTH:
            raise MalformedHeader("header.model.config has no columns or is too large")
        if config.activation not in ACTIVATIONS:
            raise MalformedHeader(f"header.model.config.activation must be one of {ACTIVATIONS}")
        return config


def hidden_degrees(num_columns: int, width: int) -> np.ndarray:
    """Degrees of one hidden layer: non-decreasing values in 1..max(C-1, 1)."""
    if num_columns < 2:
        return np.ones(width, dtype=np.int64)
    return 1 + (np.arange(width, dtype=np.int64) * (num_columns - 1)) // width


def token_degrees(config: MadeConfig) -> np.ndarray:
    """Degree (1-based column index) of each input/output token unit."""
    return np.repeat(np.arange(1, config.num_columns + 1), config.token_counts)


def masks(config: MadeConfig) -> dict[str, np.ndarray]:
    """The 0/1 masks of every weight matrix, keyed by tensor name."""
    tokens = token_degrees(config)
    degrees = [hidden_degrees(config.num_columns, h) for h in config.hidden]
    result: dict[str, np.ndarray] = {}
    previous = tokens
    for i, current in enumerate(degrees):
        result[f"hidden.{i}.w"] = (current[None, :] >= previous[:, None])
        previous = current
    result["out.w"] = tokens[None, :] > previous[:, None]
    if config.direct:
        result["direct.w"] = tokens[None, :] > tokens[:, None]
    return {name: m.astype(np.float32) for name, m in result.items()}


def tensor_shapes(config: MadeConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    width = config.vocab_size
    for i, h in enumerate(config.hidden):
        shapes[f"hidden.{i}.w"] = (width, h)
        shapes[f"hidden.{i}.b"] = (h,)
        width = h
    shapes["out.w"] = (width, config.vocab_size)
    shapes["out.b"] = (config.vocab_size,)
    if config.direct:
        shapes["direct.w"] = (config.vocab_size, config.vocab_size)
    return shapes


def check_weights(config: MadeConfig, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate names, dtypes, shapes and masks; return float32 copies."""
    shapes = tensor_shapes(config)
    if set(tensors) != set(shapes):
        missing = sorted(set(shapes) - set(tensors))
        extra = sorted(set(tensors) - set(shapes))
        raise MalformedPayload(
            f"made tensors do not match the config (missing {missing}, unexpected {extra})"
        )
    weights: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        array = tensors[name]
        if array.dtype != np.float32 or array.shape != shape:
            raise MalformedPayload(
                f"tensor {name!r} must be float32 of shape {shape}, "
                f"found {array.dtype} {array.shape}"
            )
        weights[name] = np.array(array, dtype=np.float32)
    for name, mask in masks(config).items():
        if np.any(weights[name][mask == 0] != 0):
            raise MalformedPayload(
                f"tensor {name!r} has weights where the MADE mask is 0 "
                "(it would let a column see later columns)"
            )
    return weights


class MadeSampler:
    """Numpy forward pass and incremental ancestral sampling."""

    def __init__(self, config: MadeConfig, tensors: Mapping[str, np.ndarray]) -> None:
        self.config = config
        self.weights = check_weights(config, tensors)
        self.offsets = config.offsets
        c = config.num_columns
        # For every hidden layer and every column c (0-based), the range of
        # units that become final once columns < c are known: degree == c.
        self._degree_bounds = [
            np.searchsorted(hidden_degrees(c, h), np.arange(c + 1), side="right")
            for h in config.hidden
        ]
        # Sampling works in a units-by-rows layout: every slice it touches
        # (the units that become final at a step, a column's logits) is then
        # a contiguous block, and each product a small dense GEMM. These are
        # the transposed weights and per-step blocks it multiplies by.
        self._first_t = (np.ascontiguousarray(self.weights["hidden.0.w"].T)
                         if config.hidden else None)
        self._bias_t = [self.weights[f"hidden.{i}.b"][:, None]
                        for i in range(len(config.hidden))]
        self._hidden_blocks: list[list[np.ndarray | None]] = []
        for i in range(len(config.hidden)):
            blocks: list[np.ndarray | None] = [None]
            for step in range(1, c):
                a, b = self._degree_bounds[i][step - 1], self._degree_bounds[i][step]
                end = self._degree_bounds[i - 1][step] if i > 0 else 0
                blocks.append(np.ascontiguousarray(self.weights[f"hidden.{i}.w"][:end, a:b].T)
                              if i > 0 and b > a else None)
            self._hidden_blocks.append(blocks)
        # Input -> output weights, accumulated as columns are drawn: the direct
        # layer, and out.w itself when there is no hidden layer.
        direct_parts = [self.weights["direct.w"]] if config.direct else []
        if not config.hidden:
            direct_parts.append(self.weights["out.w"])
        self._input_to_output_t = (np.ascontiguousarray(sum(direct_parts).T)
                                   if direct_parts else None)
        self._out_blocks = []
        self._out_bias = []
        for step in range(c):
            s, e = self.offsets[step], self.offsets[step + 1]
            end = self._degree_bounds[-1][step] if config.hidden else 0
            self._out_blocks.append(np.ascontiguousarray(self.weights["out.w"][:end, s:e].T))
            self._out_bias.append(self.weights["out.b"][s:e, None])

    # -- full forward pass (reference, used by the parity test) -------------

    def log_probs(self, tokens: np.ndarray) -> list[np.ndarray]:
        """Per-column log-probabilities of each row, given the full rows.

        Args:
          tokens: (n, C) integer tokens.
        Returns:
          C arrays of shape (n, tokens in column c); row i of array c is
          log p(x_c = . | x_<c of row i).
        """
        x = self.one_hot(tokens)
        h = x
        for i in range(len(self.config.hidden)):
            h = np.maximum(h @ self.weights[f"hidden.{i}.w"] + self.weights[f"hidden.{i}.b"], 0)
        logits = h @ self.weights["out.w"] + self.weights["out.b"]
        if self.config.direct:
            logits = logits + x @ self.weights["direct.w"]
        return [_log_softmax(logits[:, a:b]) for a, b in zip(self.offsets, self.offsets[1:])]

    def one_hot(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens, dtype=np.int64)
        x = np.zeros((tokens.shape[0], self.config.vocab_size), dtype=np.float32)
        rows = np.arange(tokens.shape[0])
        for c, start in enumerate(self.offsets[:-1]):
            x[rows, start + tokens[:, c]] = 1.0
        return x

    # -- incremental sampling ------------------------------------------------

    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: Mapping[int, Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Draw up to ``n`` rows of tokens; rows violating ``conditions`` are dropped.

        Args:
          n: candidate rows to draw.
          rng: randomness for this block.
          conditions: column index -> allowed tokens. A candidate row is kept
            with probability p(x_c in allowed | x_<c), and x_c is then drawn
            from the allowed tokens only: exact rejection sampling.
        Returns:
          (m, C) int32 tokens, m <= n (m == n without conditions).
        """
        with single_threaded_blas():
            return self._sample(n, rng, dict(conditions or {}))

    def _sample(self, n: int, rng: np.random.Generator,
                conditions: dict[int, Sequence[int]]) -> np.ndarray:
        cfg = self.config
        layers = len(cfg.hidden)
        offsets = self.offsets
        # units x rows; the first layer keeps running sums over drawn columns
        first = np.zeros((cfg.hidden[0], n), dtype=np.float32) if layers else None
        post = [np.empty((h, n), dtype=np.float32) for h in cfg.hidden]
        direct = np.zeros((cfg.vocab_size, n), dtype=np.float32)
        tokens = np.zeros((cfg.num_columns, n), dtype=np.int32)
        for c in range(cfg.num_columns):
            if c > 0:
                # add the drawn column's weight rows to the running sums: a
                # small GEMM with its one-hot codes when it has few tokens
                # (far faster than a gather), a gather otherwise
                lo_token, hi_token = offsets[c - 1], offsets[c]
                codes = _one_hot_t(tokens[c - 1], hi_token - lo_token)
                if layers:
                    lo = self._degree_bounds[0][c - 1]
                    _add_rows(first[lo:], self._first_t[lo:, lo_token:hi_token], codes,
                              tokens[c - 1])
                if self._input_to_output_t is not None:
                    _add_rows(direct[hi_token:],
                              self._input_to_output_t[hi_token:, lo_token:hi_token], codes,
                              tokens[c - 1])
                for i in range(layers):
                    a, b = self._degree_bounds[i][c - 1], self._degree_bounds[i][c]
                    if b == a:
                        continue
                    if i == 0:
                        new = first[a:b] + self._bias_t[0][a:b]
                    else:
                        block = self._hidden_blocks[i][c]
                        new = block @ post[i - 1][:block.shape[1]]
                        new += self._bias_t[i][a:b]
                    np.maximum(new, 0, out=post[i][a:b])
            s, e = offsets[c], offsets[c + 1]
            logits = direct[s:e] + self._out_bias[c]
            block = self._out_blocks[c]
            if block.shape[1]:
                logits += block @ post[-1][:block.shape[1]]
            weights = _exp_shifted(logits)  # unnormalised probabilities, in place
            u = rng.random(weights.shape[1], dtype=np.float32)
            if c in conditions:
                allowed = np.zeros(e - s, dtype=bool)
                allowed[list(conditions[c])] = True
                total = weights.sum(axis=0)
                weights[~allowed] = 0
                kept = weights.sum(axis=0)
                keep = rng.random(weights.shape[1], dtype=np.float32) * total < kept
                weights, u = weights[:, keep], u[keep]
                if layers:
                    first = first[:, keep]
                    post = [p[:, keep] for p in post]
                direct, tokens = direct[:, keep], tokens[:, keep]
            tokens[c] = _draw(weights, u)
        return np.ascontiguousarray(tokens.T)


_ONE_HOT_MAX = 64  # above this many tokens, gathering beats the one-hot product


def _one_hot_t(tokens: np.ndarray, size: int) -> np.ndarray | None:
    """(size, n) float32 one-hot codes, or None when gathering is cheaper."""
    if size > _ONE_HOT_MAX:
        return None
    codes = np.zeros((size, len(tokens)), dtype=np.float32)
    codes[tokens, np.arange(len(tokens))] = 1.0
    return codes


def _add_rows(target: np.ndarray, weights_t: np.ndarray, codes: np.ndarray | None,
              tokens: np.ndarray) -> None:
    """target[:, j] += weights_t[:, tokens[j]] for every row j, in place."""
    if target.shape[0] == 0:
        return
    if codes is not None:
        target += weights_t @ codes
    else:
        target += weights_t[:, tokens]


def _exp_shifted(logits: np.ndarray) -> np.ndarray:
    """exp(logits - max) over axis 0, in place: unnormalised probabilities."""
    logits -= logits.max(axis=0)
    np.exp(logits, out=logits)
    return logits


def _draw(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per column j, the first token whose cumulative weight exceeds u·total.

    Tokens with weight 0 are never drawn: even when u·total rounds up to the
    total, the count stops at the last token that has weight.
    """
    # one vector operation per token beats cumsum along the short axis 0
    cumulative = weights.copy()
    for k in range(1, len(cumulative)):
        cumulative[k] += cumulative[k - 1]
    threshold = u * cumulative[-1]
    index = np.zeros(weights.shape[1], dtype=np.int32)
    for k in range(len(cumulative) - 1):
        index += cumulative[k] < threshold
    return index


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
