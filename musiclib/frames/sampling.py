"""Running a trained piano-roll model frame by frame: its weights read into NumPy, the LSTM
stepped one frame at a time (no re-run of the prefix), and each frame's keys drawn either
all at once (independent model) or one by one, low to high (LSTM-NADE).

The NumPy computation is the Keras graph's inference path (dropout off); a test checks
that both give the same logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FrameWeights", "context_sequence", "decode_frames", "frame_weights", "generate_rolls"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class FrameWeights:
    """A model's weights as float64 NumPy arrays.

    Attributes
    ----------
    kind
        ``"independent"`` or ``"nade"``.
    lstm
        ``(kernel, recurrent_kernel, bias)`` of each LSTM layer, gates in Keras's order i, f, c, o.
    visible
        ``(kernel, bias)`` from the context to the key logits (the NADE's visible bias).
    hidden
        ``(kernel, bias)`` from the context to the NADE's hidden bias (``None``: independent).
    nade_input, nade_output
        The NADE's ``W`` and ``V``, both keys × hidden (``None``: independent).
    """

    kind: str
    lstm: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    visible: tuple[np.ndarray, np.ndarray]
    hidden: tuple[np.ndarray, np.ndarray] | None = None
    nade_input: np.ndarray | None = None
    nade_output: np.ndarray | None = None

    @property
    def units(self) -> tuple[int, ...]:
        return tuple(recurrent.shape[0] for _, recurrent, _ in self.lstm)


def frame_weights(model) -> FrameWeights:
    """Read the weights of a model built by :func:`~musiclib.frames.build_frame_model`."""
    def arrays(name: str) -> list[np.ndarray]:
        return [np.asarray(w, dtype=np.float64) for w in model.get_layer(name).get_weights()]

    lstm_names = sorted(
        (layer.name for layer in model.layers if layer.name.startswith("time_lstm_")),
        key=lambda name: int(name.rsplit("_", 1)[1]),
    )
    lstm = tuple(tuple(arrays(name)) for name in lstm_names)
    names = {layer.name for layer in model.layers}
    if "nade_input_weights" in names:
        return FrameWeights(
            kind="nade",
            lstm=lstm,
            visible=tuple(arrays("nade_visible_bias")),
            hidden=tuple(arrays("nade_hidden_bias")),
            nade_input=arrays("nade_input_weights")[0],
            nade_output=arrays("nade_output_weights")[0],
        )
    return FrameWeights(kind="independent", lstm=lstm, visible=tuple(arrays("key_logits")))


def _lstm_step(x, state, weights):
    kernel, recurrent, bias = weights
    h, c = state
    z = x @ kernel + h @ recurrent + bias
    i, f, g, o = np.split(z, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    return h, (h, c)


def _initial_state(weights: FrameWeights, batch: int):
    return [(np.zeros((batch, u)), np.zeros((batch, u))) for u in weights.units]


def _context_step(weights: FrameWeights, previous: np.ndarray, states: list) -> np.ndarray:
    """The context of the next frame (last LSTM output and ``previous``); updates ``states``."""
    x = previous
    for index, layer in enumerate(weights.lstm):
        x, states[index] = _lstm_step(x, states[index], layer)
    return np.concatenate([x, previous], axis=-1)


def context_sequence(weights: FrameWeights, rolls: np.ndarray) -> np.ndarray:
    """Contexts ``(batch, frames, units + keys)`` of every frame of ``rolls`` ``(batch, frames, keys)``."""
    rolls = np.asarray(rolls, dtype=np.float64)
    states = _initial_state(weights, rolls.shape[0])
    previous = np.zeros((rolls.shape[0], rolls.shape[2]))
    contexts = []
    for t in range(rolls.shape[1]):
        contexts.append(_context_step(weights, previous, states))
        previous = rolls[:, t]
    return np.stack(contexts, axis=1)


def decode_frames(
    weights: FrameWeights,
    context: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    frames: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose the keys of frames from their contexts ``(n, units + keys)``.

    ``rng`` given: sample every key from its (conditional) probability; ``rng=None``:
    take each key's more likely value (greedy). With ``frames`` given (teacher forcing),
    nothing is chosen: the logits of those frames are returned.

    Returns
    -------
    (keys, logits)
        The chosen (or given) frames, boolean ``(n, 88)``, and each key's logit given
        the keys below it.
    """
    visible_kernel, visible_bias = weights.visible
    visible = context @ visible_kernel + visible_bias
    if weights.kind == "independent":
        if frames is not None:
            return np.asarray(frames, dtype=bool), visible
        keys = rng.random(visible.shape) < _sigmoid(visible) if rng is not None else visible > 0
        return keys, visible
    hidden_kernel, hidden_bias = weights.hidden
    pre_activation = context @ hidden_kernel + hidden_bias
    keys = np.zeros(visible.shape, dtype=bool)
    logits = np.zeros(visible.shape)
    for k in range(visible.shape[1]):
        logits[:, k] = visible[:, k] + _sigmoid(pre_activation) @ weights.nade_output[k]
        if frames is not None:
            keys[:, k] = np.asarray(frames)[:, k] > 0
        elif rng is not None:
            keys[:, k] = rng.random(len(keys)) < _sigmoid(logits[:, k])
        else:
            keys[:, k] = logits[:, k] > 0
        pre_activation = pre_activation + np.outer(keys[:, k], weights.nade_input[k])
    return keys, logits


def generate_rolls(
    model_or_weights,
    *,
    n: int = 1,
    n_frames: int = 128,
    seed: int = 0,
    primer: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Sample ``n`` piano rolls of ``n_frames`` frames, one frame at a time.

    Parameters
    ----------
    model_or_weights
        A Keras model from :func:`~musiclib.frames.build_frame_model` or its :class:`FrameWeights`.
    n, n_frames
        How many rolls, and how long (primer included).
    seed
        The same seed gives the same rolls.
    primer
        Optional ``(frames, 88)`` opening every roll continues.
    """
    weights = model_or_weights if isinstance(model_or_weights, FrameWeights) else frame_weights(model_or_weights)
    if n <= 0 or n_frames <= 0:
        raise ValueError(f"n and n_frames must be positive, got {n} and {n_frames}")
    rng = np.random.default_rng(seed)
    n_keys = weights.visible[0].shape[1]
    rolls = np.zeros((n, n_frames, n_keys), dtype=bool)
    given = 0
    if primer is not None:
        primer = np.asarray(primer, dtype=bool)
        if primer.ndim != 2 or primer.shape[1] != n_keys:
            raise ValueError(f"primer must be frames × {n_keys}, got shape {primer.shape}")
        given = min(len(primer), n_frames)
        rolls[:, :given] = primer[:given]
    states = _initial_state(weights, n)
    previous = np.zeros((n, n_keys))
    for t in range(n_frames):
        context = _context_step(weights, previous, states)
        if t >= given:
            rolls[:, t], _ = decode_frames(weights, context, rng=rng)
        previous = rolls[:, t].astype(np.float64)
    return list(rolls)

