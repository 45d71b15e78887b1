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
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from provisioner.bundle.fields import Fields
from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.errors import LimitExceeded, MalformedHeader, MalformedPayload, SamplingError

FAMILY = "made"
ACTIVATIONS = ("relu",)


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

    def tensor_bytes(self) -> int:
        """Bytes of all the model's tensors (float32), from the config alone."""
        return 4 * sum(math.prod(shape) for shape in tensor_shapes(self).values())

    def sampling_bytes_per_row(self) -> int:
        """Working memory of one candidate row while a block is sampled: an upper bound.

        What :meth:`MadeSampler.sample_kept` holds per row: the one-hot codes
        (4 bytes per token), every hidden activation (4 per unit), the tokens
        and candidate indices, all twice over while a condition filters rows;
        one step's logits, running sums, draws and new hidden units; and the
        decoded values with their indices (about 28 bytes per column). The
        sampling scheme sizes its blocks from this, so that a bundle with a
        huge vocabulary cannot make a reader allocate without bound; a test
        holds it above what a block really allocates.
        """
        widest = max(self.token_counts)
        hidden = sum(self.hidden)
        held = 4 * (self.vocab_size + hidden + self.num_columns) + 8
        per_step = 4 * (max(self.hidden, default=0) + widest) + 4 * 4 * widest + 64
        return 2 * held + per_step + 28 * self.num_columns

    def sampling_flops_per_row(self) -> int:
        """Floating-point operations one sampled row costs: an upper bound.

        Every weight takes part in at most one multiply-add per row (the
        sampler computes each unit once, when it becomes final), so twice
        the number of weights bounds it. The scheme caps a block's total.
        """
        return 2 * sum(math.prod(shape) for shape in tensor_shapes(self).values())

    @staticmethod
    def check_limits(plain: Any, limits: Limits = DEFAULT_LIMITS) -> None:
        check_config_limits(plain, limits)

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool = True,
                   limits: Limits = DEFAULT_LIMITS) -> MadeConfig:
        """Read and check a config; cost limits come before the other rules."""
        check_config_limits(plain, limits)
        f = Fields(plain, "header.model.config", strict=strict)
        counts = f.array("token_counts")
        hidden = f.array("hidden")
        config = cls(
            token_counts=tuple(counts),
            hidden=tuple(hidden),
            direct=f.boolean("direct"),
            activation=f.string("activation", choices=ACTIVATIONS),
        )
        f.done()
        for name, values in (("token_counts", counts), ("hidden", hidden)):
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise MalformedHeader(
                    f"header.model.config.{name} must hold integers >= 1"
                )
        if not counts:
            raise MalformedHeader("header.model.config.token_counts is empty")
        return config


def check_config_limits(plain: Any, limits: Limits) -> None:
    """Tokens, layers, widths and the tensors' bytes, before anything else.

    Only well-typed values are measured; other problems are left to
    :meth:`MadeConfig.from_plain`.
    """
    if not isinstance(plain, dict):
        return
    counts, hidden = plain.get("token_counts"), plain.get("hidden")

    def ints(values: Any) -> bool:
        return isinstance(values, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)

    if isinstance(counts, list) and len(counts) > limits.max_columns:
        raise LimitExceeded(f"header.model.config has {len(counts)} columns, above the "
                            f"limit {limits.max_columns}")
    if isinstance(hidden, list) and len(hidden) > limits.max_hidden_layers:
        raise LimitExceeded(f"header.model.config has {len(hidden)} hidden layers, above "
                            f"the limit {limits.max_hidden_layers}")
    if ints(counts) and sum(counts) > limits.max_tokens:
        raise LimitExceeded(f"header.model.config has {sum(counts)} tokens, above the "
                            f"limit {limits.max_tokens}")
    if ints(hidden) and hidden and max(hidden) > limits.max_hidden_width:
        raise LimitExceeded(f"header.model.config has a hidden layer of {max(hidden)} "
                            f"units, above the limit {limits.max_hidden_width}")
    if ints(counts) and ints(hidden) and counts:
        config = MadeConfig(tuple(counts), tuple(hidden), bool(plain.get("direct")))
        need = config.tensor_bytes()
        if need > limits.max_decompressed_bytes:
            raise LimitExceeded(
                f"header.model.config needs {need:,} bytes of tensors, above the limit "
                f"{limits.max_decompressed_bytes:,}")


def hidden_degrees(num_columns: int, width: int) -> np.ndarray:
    """Degrees of one hidden layer: non-decreasing values in 1..max(C-1, 1)."""
    if num_columns < 2:
        return np.ones(width, dtype=np.int64)
    return 1 + (np.arange(width, dtype=np.int64) * (num_columns - 1)) // width


def token_degrees(config: MadeConfig) -> np.ndarray:
    """Degree (1-based column index) of each input/output token unit."""
    return np.repeat(np.arange(1, config.num_columns + 1), config.token_counts)


def masks(config: MadeConfig) -> dict[str, np.ndarray]:
    """The 0/1 masks of every weight matrix, keyed by tensor name.

    Dense (in x out floats): for tests and training, not for checking a
    bundle (see :func:`masked_blocks`).
    """
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


def masked_blocks(config: MadeConfig) -> Iterator[tuple[str, int, int, int]]:
    """(tensor, first row, first column, end column) of every masked region.

    Degrees never decrease along a layer, so for the units of one output
    degree the masked inputs are all rows from some index on: the mask of a
    matrix is at most C rectangles, checked without building it.
    """
    tokens = token_degrees(config)
    layers = [tokens] + [hidden_degrees(config.num_columns, h) for h in config.hidden]
    matrices = [(f"hidden.{i}.w", layers[i], layers[i + 1], "right")
                for i in range(len(config.hidden))]
    matrices.append(("out.w", layers[-1], tokens, "left"))
    if config.direct:
        matrices.append(("direct.w", tokens, tokens, "left"))
    for name, inputs, outputs, side in matrices:
        # hidden: a unit of degree d sees inputs of degree <= d; outputs of
        # column c see degree < c. Masked rows start where that ends.
        values, starts = np.unique(outputs, return_index=True)
        ends = np.append(starts[1:], len(outputs))
        first_rows = np.searchsorted(inputs, values, side=side)
        for row, a, b in zip(first_rows.tolist(), starts.tolist(), ends.tolist()):
            if row < len(inputs):
                yield name, row, a, b


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


def check_weights(config: MadeConfig, tensors: Mapping[str, np.ndarray], *,
                  strict: bool = True) -> dict[str, np.ndarray]:
    """Validate names, dtypes, shapes and masks; return the model's arrays.

    The arrays are returned as they are (read-only views of the payload are
    fine: sampling never writes to weights). Tensors a newer minor version
    added are ignored when ``strict`` is False.
    """
    shapes = tensor_shapes(config)
    missing = sorted(set(shapes) - set(tensors))
    extra = sorted(set(tensors) - set(shapes)) if strict else []
    if missing or extra:
        raise MalformedPayload(
            f"made tensors do not match the config (missing {missing}, unexpected {extra})"
        )
    weights: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        array = np.asarray(tensors[name])
        if array.dtype != np.float32 or array.shape != shape:
            raise MalformedPayload(
                f"tensor {name!r} must be float32 of shape {shape}, "
                f"found {array.dtype} {array.shape}"
            )
        weights[name] = array
    for name, row, a, b in masked_blocks(config):
        # any() treats -0.0 as zero, as the format does
        if weights[name][row:, a:b].any():
            raise MalformedPayload(
                f"tensor {name!r} has weights where the MADE mask is 0 "
                "(it would let a column see later columns)"
            )
    return weights


class MadeSampler:
    """Numpy forward pass and incremental ancestral sampling."""

    def __init__(self, config: MadeConfig, tensors: Mapping[str, np.ndarray], *,
                 strict: bool = True) -> None:
        self.config = config
        self.weights = check_weights(config, tensors, strict=strict)
        self.offsets = config.offsets
        # The sampling blocks (transposed weight slices) are built on the
        # first draw, not here: verifying a bundle needs only the checks.
        self._lock = threading.Lock()
        self._prepared = False

    def _prepare(self) -> None:
        with self._lock:
            if not self._prepared:
                # summing huge weights may overflow: the logits check reports it
                with np.errstate(over="ignore", invalid="ignore"):
                    self._build_blocks()
                self._prepared = True

    def _build_blocks(self) -> None:
        config = self.config
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
        # the transposed weight blocks each step multiplies by.
        #
        # Per step c, one block multiplies the one-hot codes of the columns
        # drawn so far (tokens < offsets[c]): its rows are the first-layer
        # units that become final at c, then column c's logits from the
        # input (the direct layer, or out.w itself when there is no hidden
        # layer). Recomputing these from the codes reads far less memory
        # than keeping running sums for every later unit up to date.
        direct_parts = [self.weights["direct.w"]] if config.direct else []
        if not config.hidden:
            direct_parts.append(self.weights["out.w"])
        input_to_output = sum(direct_parts) if direct_parts else None
        self._input_blocks: list[np.ndarray] = []
        self._first_new: list[int] = []
        for step in range(c):
            s, e = self.offsets[step], self.offsets[step + 1]
            parts = []
            if config.hidden and step > 0:
                a, b = self._degree_bounds[0][step - 1], self._degree_bounds[0][step]
                parts.append(self.weights["hidden.0.w"][:s, a:b].T)
            self._first_new.append(sum(p.shape[0] for p in parts))
            if input_to_output is not None:
                parts.append(input_to_output[:s, s:e].T)
            block = np.concatenate(parts) if parts else np.zeros((0, s), np.float32)
            self._input_blocks.append(np.ascontiguousarray(block, dtype=np.float32))
        self._bias_t = [self.weights[f"hidden.{i}.b"][:, None]
                        for i in range(len(config.hidden))]
        self._hidden_blocks: list[list[np.ndarray | None]] = []
        for i in range(1, len(config.hidden)):
            blocks: list[np.ndarray | None] = [None]
            for step in range(1, c):
                a, b = self._degree_bounds[i][step - 1], self._degree_bounds[i][step]
                end = self._degree_bounds[i - 1][step]
                blocks.append(np.ascontiguousarray(self.weights[f"hidden.{i}.w"][:end, a:b].T)
                              if b > a else None)
            self._hidden_blocks.append(blocks)
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

        Process-wide BLAS settings are left alone: a caller that runs this
        on several threads of its own holds BLAS to one thread around them
        (:func:`provisioner._blas.single_threaded_blas`).
        """
        return self.sample_kept(n, rng, conditions)[0]

    def sample_kept(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: Mapping[int, Sequence[int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`sample`, also returning which candidates were kept.

        Returns:
          the (m, C) tokens and the m increasing indices in ``0..n-1`` of
          the candidates they are.
        """
        self._prepare()
        # Huge weights can overflow float32; _exp_shifted turns that into one
        # clear error instead of warnings and garbage draws.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._sample(n, rng, dict(conditions or {}))

    def _sample(self, n: int, rng: np.random.Generator,
                conditions: dict[int, Sequence[int]]) -> np.ndarray:
        cfg = self.config
        layers = len(cfg.hidden)
        offsets = self.offsets
        # units x rows: one-hot codes of the drawn columns, hidden activations
        codes = np.zeros((cfg.vocab_size, n), dtype=np.float32)
        post = [np.empty((h, n), dtype=np.float32) for h in cfg.hidden]
        tokens = np.zeros((cfg.num_columns, n), dtype=np.int32)
        alive = np.arange(n, dtype=np.int64)  # candidate index of each column
        for c in range(cfg.num_columns):
            s, e = offsets[c], offsets[c + 1]
            rows = codes.shape[1]
            block = self._input_blocks[c]
            if s and block.shape[0]:
                from_input = block @ codes[:s]
            else:
                from_input = np.zeros((block.shape[0], rows), dtype=np.float32)
            first_new = self._first_new[c]
            for i in range(layers if c else 0):
                a, b = self._degree_bounds[i][c - 1], self._degree_bounds[i][c]
                if b == a:
                    continue
                if i == 0:
                    new = from_input[:first_new]
                else:
                    block = self._hidden_blocks[i - 1][c]
                    new = block @ post[i - 1][:block.shape[1]]
                new += self._bias_t[i][a:b]
                np.maximum(new, 0, out=post[i][a:b])
            if from_input.shape[0] > first_new:
                logits = from_input[first_new:]
                logits += self._out_bias[c]
            else:
                logits = np.repeat(self._out_bias[c], rows, axis=1)
            block = self._out_blocks[c]
            if block.shape[1]:
                logits += block @ post[-1][:block.shape[1]]
            weights = _exp_shifted(logits)  # unnormalised probabilities, in place
            u = rng.random(rows, dtype=np.float32)
            if c in conditions:
                allowed = np.zeros(e - s, dtype=bool)
                allowed[list(conditions[c])] = True
                total = weights.sum(axis=0)
                weights[~allowed] = 0
                kept = weights.sum(axis=0)
                keep = rng.random(rows, dtype=np.float32) * total < kept
                weights, u = weights[:, keep], u[keep]
                post = [p[:, keep] for p in post]
                codes, tokens = codes[:, keep], tokens[:, keep]
                alive = alive[keep]
            tokens[c] = _draw(weights, u)
            codes[s + tokens[c], np.arange(codes.shape[1])] = 1.0
        return np.ascontiguousarray(tokens.T), alive


def _exp_shifted(logits: np.ndarray) -> np.ndarray:
    """exp(logits - max) over axis 0, in place: unnormalised probabilities."""
    top = logits.max(axis=0)
    if not np.isfinite(top).all():
        raise SamplingError(
            "the model's logits overflow float32 (its weights are too large to sample "
            "from); ask the bundle's owner for a working generator")
    logits -= top
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
    # counting along axis 0 through an int8 view is one pass, no bool->int casts
    below = cumulative[:-1] < threshold
    return below.view(np.int8).sum(axis=0, dtype=np.int32)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
