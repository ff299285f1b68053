"""A multi-track piano-roll GAN in the spirit of MuseGAN, trained as a WGAN-GP.

Why not the classic Keras "music GAN"? That model maps noise through dense layers to
100 note *indices* and trains it like an image GAN: the discriminator judges a vector of
vocabulary ids whose values mean nothing musically (id 41 is not "near" id 42), and
neither network knows about time, so the generator never learns rhythm, harmony or bar
structure. This module generates **piano rolls**
(``bars x steps x pitches x tracks``, the layout of
:class:`~musiclib.encoding.PianoRollEncoding`), so every output cell is "this pitch
sounds in this track at this sixteenth", and both networks are convolutional along
time and pitch.

Generator (:func:`build_generator`)
    A shared latent vector (``latent_dim``: the phrase's "style") plus one latent vector
    per bar (``bar_latent_dim``: what changes from bar to bar). A small *temporal*
    network turns the shared vector into a per-bar code as well (MuseGAN's temporal
    generator), so bars of one phrase are related but not identical. Each bar's code
    goes through a dense layer to a coarse ``(4 steps, 7 octaves)`` grid (one step per
    beat), transposed convolutions double the time resolution twice (kernel = stride, so
    note starts and ends fall on the beat grid they lay out), a per-step convolution
    (``generator_time_kernel`` steps wide) mixes features, and a ``(1, 12)``-stride-12
    transposed convolution writes the twelve pitch classes of each octave for every
    track, through a sigmoid. The output bias starts at ``output_bias`` (about 5% of
    cells on, near the data's density, instead of 50% noise).
Critic (:func:`build_critic`)
    No batch normalisation (the gradient penalty is taken per sample; batch statistics
    would mix samples); optional layer normalisation. Every step is seen three ways, as
    in MuseGAN's discriminator streams: the roll itself, its *onsets* (cells that switch
    on, which make note starts, lengths and polyphony easy to judge) and its *chroma*
    (octaves folded into 12 pitch classes, which makes harmony easy to judge). Then come
    convolutions along time whose kernel equals their stride -- one step (all pitches and
    tracks), one beat, one bar -- and a linear score. They are written as dense layers
    over non-overlapping windows (the same maths): measured on 2 CPU cores, TensorFlow
    ran the gradient penalty's double back-propagation through ``Conv2D`` layers of this
    size 2-3 times slower than through the equivalent matrix products.
Training (:class:`MusicGAN`)
    A ``keras.Model`` with its own ``train_step``: ``critic_steps`` critic updates (each
    on its own slice of real phrases) per generator update, Wasserstein loss with a
    gradient penalty on random interpolates between real and generated phrases
    (Gulrajani et al. 2017), Adam with ``beta_1=0.5, beta_2=0.9``. Because the networks
    are updated inside one ``train_step``, nothing is ever "frozen", so the Keras 3
    trap of ``discriminator.trainable = False`` in a combined model does not arise.
    The noise of step ``i`` is a function of ``(seed, i)`` only, so a resumed run is
    exact. :func:`musiclib.gan.training.train_gan` adds the data pipeline, a linear
    learning-rate decay, checkpoints, metrics and sample grids.

The ``"paper"`` preset keeps the seed paper's set-up as a baseline: dense networks
(``architecture="dense"``) and the original GAN loss (``loss="gan"``: binary
cross-entropy on logits, one discriminator step per generator step), trained 4 epochs.

Backend: the builders and :meth:`MusicGAN.generate` use only Keras APIs (``keras.layers``,
``keras.ops``, ``keras.random`` with explicit seeds). :meth:`MusicGAN.train_step` uses
``tf.GradientTape`` (nested, for the gradient penalty) and so runs on the TensorFlow
backend only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from musiclib import _tf

keras = _tf.keras()

__all__ = [
    "GANConfig",
    "PRESETS",
    "ARCHITECTURES",
    "LOSSES",
    "NORMS",
    "TEMPORAL_NETWORKS",
    "NOTE_LEVERS",
    "LOSS_NAMES",
    "config_for",
    "build_generator",
    "build_critic",
    "MusicGAN",
    "phrase_shape",
    "harden",
    "sample_latents",
    "generate_phrases",
    "conditions_for",
    "sample_conditions",
    "meter_index_of",
    "step_mask",
    "KEY_SHIFTS",
    "sample_key_shifts",
]

ARCHITECTURES = ("conv", "dense")
"""``conv``: the MuseGAN-style networks; ``dense``: the seed paper's multilayer perceptrons."""

LOSSES = ("wgan-gp", "gan")
"""``wgan-gp``: Wasserstein loss with gradient penalty; ``gan``: the original
(non-saturating) GAN loss with binary cross-entropy on logits."""

TEMPORAL_NETWORKS = ("dense", "gru")
"""How the generator relates the bars of a phrase (see ``GANConfig.temporal_network``)."""

NORMS = ("layer", "none")
"""Normalisation inside the networks (never batch norm: see the module notes)."""

KEY_SHIFTS = tuple(range(-5, 7))
"""Semitones that move a piece from C major / A minor back to a key (``GANConfig.key_of_c``):
the inverse of ``musiclib.encoding.semitones_to_c``'s -6..5."""

NOTE_LEVERS = ("onsets", "monophonic_melody", "straight_through", "critic_intervals", "melody_steps",
               "accompaniment_steps")
"""The config fields that decide how notes are written and judged (not the networks' sizes):
quick mode keeps a preset's levers on the tiny networks."""

LOSS_NAMES = ("d_loss", "g_loss", "gp", "real_score", "fake_score")
"""What :meth:`MusicGAN.train_step` reports (means over the epoch in ``fit``'s history)."""

_PITCHES_PER_OCTAVE = 12
_COARSE_TIME = 4  # the generator starts from 4 coarse steps per bar and doubles twice
_GROUP_BARS = 4  # bars per group in the critic's optional phrase layer
_INIT_SEED_STRIDE = 1000
_NOISE_DRAWS_PER_STEP = 1000  # > random draws in one train_step; keeps steps' noise apart
_LEAKY_SLOPE = 0.2


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"GANConfig.{name} must be a positive integer, got {value!r}")


def _positive_number(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"GANConfig.{name} must be {kind} finite number, got {value!r}")


def _meters(value: Any) -> tuple[tuple[int, int], ...]:
    """``GANConfig.meters`` as distinct ``(numerator, denominator)`` pairs of positive integers."""
    def is_meter(item: Any) -> bool:
        return (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in item))

    if not isinstance(value, (list, tuple)) or not value or not all(is_meter(item) for item in value):
        raise ValueError(f"GANConfig.meters must be a non-empty list of (numerator, denominator) pairs of "
                         f"positive integers such as ((4, 4), (6, 8)), got {value!r}")
    meters = tuple((int(a), int(b)) for a, b in value)
    if len(set(meters)) != len(meters):
        raise ValueError(f"GANConfig.meters lists a meter twice: {meters!r}")
    return meters


def _shares(name: str, value: Any, n: int, what: str) -> tuple[float, ...]:
    """``GANConfig.<name>``: empty, or one non-negative number per ``what`` (``n``), not all zero."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"GANConfig.{name} must be a list of numbers, got {value!r}")
    if not value:
        return ()
    numbers = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  and np.isfinite(v) and v >= 0 for v in value)
    if len(value) != n or not numbers or not sum(value) > 0:
        raise ValueError(f"GANConfig.{name} must be empty or hold one non-negative number per {what} "
                         f"({n}), not all zero, got {value!r}")
    return tuple(float(v) for v in value)


def _meter_shares(value: Any, n_meters: int) -> tuple[float, ...]:
    """``GANConfig.meter_shares``: empty, or one non-negative number per meter, not all zero."""
    return _shares("meter_shares", value, n_meters, "meter")


def _int_tuple(name: str, value: Any, length: int | None = None) -> tuple[int, ...]:
    if isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, tuple) or not value:
        raise ValueError(f"GANConfig.{name} must be a non-empty tuple of positive integers, got {value!r}")
    for item in value:
        _positive_int(name, item)
    if length is not None and len(value) != length:
        raise ValueError(f"GANConfig.{name} must hold exactly {length} integers, got {value!r}")
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class GANConfig:
    """Every size and training setting of a piano-roll GAN (validated; saved as JSON).

    Parameters
    ----------
    n_bars, steps_per_bar, n_pitches, n_tracks
        The phrase shape ``(n_bars, steps_per_bar, n_pitches, n_tracks)``; it must match
        the :class:`~musiclib.encoding.PianoRollEncoding` the data comes from (16 steps
        per 4/4 bar at 4 steps per quarter, 84 pitches, 2 tracks for Nottingham).
    hop_bars
        A training phrase starts every this many bars of a tune (1: every bar, so
        phrases overlap; longer phrases can use a longer hop to keep an epoch short).
    latent_dim
        Size of the shared latent vector (one per phrase).
    bar_latent_dim
        Size of the per-bar latent vectors (one per bar).
    temporal_dim
        Size of the per-bar code the temporal network derives from the shared vector.
    architecture
        ``"conv"`` (MuseGAN-style) or ``"dense"`` (the seed paper's baseline).
    generator_filters
        ``conv``: channels of the coarse grid, after each time doubling and of the
        three-step convolution (4 numbers). ``dense``: units of the hidden layers.
    generator_time_kernel
        Steps seen by the generator's last time convolution (``conv``). 1 keeps every
        step's features to itself, so note starts and ends stay on the grid the
        transposed convolutions lay out (beats); 3 also mixes each step's neighbours,
        which measured on Nottingham smeared chord changes into one-step fragments.
    critic_filters
        ``conv``: channels per step, per beat and per bar (3 numbers), and optionally
        per four-bar group (a 4th number; ``n_bars`` a multiple of 4), so the critic
        judges how bars relate inside a long phrase non-linearly. ``dense``: units of
        the hidden layers.
    norm
        ``"layer"`` or ``"none"``: layer normalisation in both networks (off by default:
        on 2 CPU cores it made a training step several times slower).
    output_bias
        Initial bias of the generator's output logits. About 2-5% of piano-roll cells
        are on in folk music; -3 (sigmoid 0.047) starts the generator near that density
        instead of at 50% noise.
    loss
        ``"wgan-gp"`` or ``"gan"`` (see :data:`LOSSES`).
    straight_through
        Show the critic *binarised* generated phrases (``> 0.5``, what a listener gets)
        and pass its gradient straight through the threshold to the probabilities
        (BinaryMuseGAN's deterministic binary neurons with the straight-through
        estimator, Dong & Yang 2018). Otherwise the critic sees probabilities.
    onsets
        Give each track an *onset* channel (``phrase_shape`` then has ``2 * n_tracks``
        channels: sounding cells, then note starts, the layout of
        ``PianoRollEncoding.bars(onsets=True)``). The generator writes an onset
        probability per cell and the critic sees ``onset * sounding``, so a repeated
        note differs from a held one and note lengths are the generator's choice
        rather than an accident of the threshold.
    monophonic_melody
        Track 0 sounds at most one pitch per step: a softmax over its pitches and a
        rest, decoded by the most likely choice (and shown to the critic that way with
        ``straight_through``), instead of an independent sigmoid per cell, which
        stacks notes and scatters stray ones that make melodies leap.
    critic_intervals
        Give the critic a fourth view of the melody (track 0): a few learnt linear
        read-outs of each step's pitch ("how high") and their differences 1, 2, 4 and 8
        steps back, so leaps and contours are as easy to judge as they are to hear.
        Its other views see one step's pitches at a time and then pool them, which
        loses the interval between one beat's note and the next.
    melody_steps, accompaniment_steps
        Steps that share one decision of what sounds: track 0's (2: the melody's pitch
        or rest can change every eighth note) and the other tracks' (4: chords change
        at most once a beat). Onsets keep every step, so a note can still be repeated
        on a sixteenth. Measured on Nottingham, a generator free to change the melody's
        pitch on every sixteenth wrote seven times as many sixteenth notes as the tunes
        hold (the note-length and inter-onset features suffered most); the tunes change
        pitch on an odd sixteenth for 3% of their notes.
    temporal_network
        ``"dense"``: the shared vector -> one code per bar in one dense layer
        (MuseGAN's temporal generator); ``"gru"``: a GRU runs over the bars (fed the
        shared vector and each bar's own vector), so each bar's code depends on the
        bars before it -- a phrase-level structure for long (8-16 bar) phrases.
    ema_decay
        Keep an exponential moving average of the generator's weights with this decay
        (0: off). It is the generator used to generate and the one saved (Yazici et
        al. 2019: averaged GAN generators give steadier, better samples).
    critic_steps
        Critic updates per generator update; each uses its own ``batch_size`` real
        phrases, so a training batch holds ``critic_steps * batch_size`` phrases.
    gp_weight
        Weight of the gradient penalty (``wgan-gp`` only).
    drift_weight
        Weight of a small penalty on the real score squared (Karras et al. 2018), which
        keeps the critic's scores near zero so they are comparable across epochs.
    learning_rate, beta_1, beta_2
        Adam's settings, for both networks.
    final_lr_fraction
        :func:`musiclib.gan.training.train_gan` lowers both learning rates linearly,
        epoch by epoch, from ``learning_rate`` in the first epoch to
        ``learning_rate * final_lr_fraction`` in the last (1.0: constant), which
        settles the generator's samples (WGAN-GP's reference code decays to 0).
    batch_size
        Phrases per critic (and generator) update.
    epochs
        Passes over the training phrases.
    seed
        Seed of weight initialisation, noise and data order.
    sample_every
        Save a sample grid every this many epochs (metrics are logged every epoch).
    eval_samples
        Phrases generated at the end of every epoch to compute the metrics.
    meters
        The meters the GAN plays, ``(numerator, denominator)`` pairs. ``steps_per_bar``
        is the longest one's bar; a shorter bar (12 steps of 6/8 or 3/4 in a 16-step
        4/4 grid) fills its first steps and leaves the rest silent. With more than one
        meter the generator and the critic take the meter as a condition (a one-hot
        part of their ``conditions`` input) and generated steps past the bar's end are
        cut to silence before the critic sees them, so one GAN plays the reels, jigs and
        waltzes of a folk corpus instead of only its 4/4 tunes.
    meter_shares
        How often each meter is asked for when nothing else says (the training tunes'
        shares; empty: all alike).
    opening_condition
        Add a condition that says whether a phrase opens its tune (its first bar is the
        tune's first bar, pick-up included). Openings differ from the phrases that
        follow them: they start with the pick-up's silent beats and set out the key;
        generated pieces are openings (:func:`sample_conditions`).
    key_of_c
        Train on the tunes moved to C major / A minor (``musiclib.encoding.transpose_to_c``)
        and move each generated piece to a key drawn by ``key_shift_shares``: the
        networks learn one scale instead of twelve, and the pieces still come in the
        corpus's keys (:func:`sample_key_shifts`).
    key_shift_shares
        How often each shift of :data:`KEY_SHIFTS` semitones (up from C major / A minor)
        is drawn for a generated piece (the training tunes' keys; empty: all alike).
        Only with ``key_of_c``.
    """

    n_bars: int = 4
    hop_bars: int = 1
    steps_per_bar: int = 16
    n_pitches: int = 84
    n_tracks: int = 2
    latent_dim: int = 64
    bar_latent_dim: int = 32
    temporal_dim: int = 32
    architecture: str = "conv"
    generator_filters: tuple[int, ...] = (128, 64, 64, 32)
    generator_time_kernel: int = 1
    critic_filters: tuple[int, ...] = (128, 128, 128)
    norm: str = "none"
    output_bias: float = -3.0
    loss: str = "wgan-gp"
    straight_through: bool = False
    onsets: bool = False
    monophonic_melody: bool = False
    critic_intervals: bool = False
    melody_steps: int = 1
    accompaniment_steps: int = 1
    temporal_network: str = "dense"
    ema_decay: float = 0.0
    critic_steps: int = 5
    gp_weight: float = 10.0
    drift_weight: float = 1e-3
    learning_rate: float = 1e-3
    final_lr_fraction: float = 0.1
    beta_1: float = 0.5
    beta_2: float = 0.9
    batch_size: int = 64
    epochs: int = 14
    seed: int = 0
    sample_every: int = 1
    eval_samples: int = 256
    meters: tuple[tuple[int, int], ...] = ((4, 4),)
    meter_shares: tuple[float, ...] = ()
    opening_condition: bool = False
    key_of_c: bool = False
    key_shift_shares: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "n_bars", "hop_bars", "melody_steps", "accompaniment_steps", "steps_per_bar", "n_pitches", "n_tracks", "latent_dim", "bar_latent_dim",
            "temporal_dim", "generator_time_kernel", "critic_steps", "batch_size", "epochs",
            "sample_every", "eval_samples",
        ):
            _positive_int(name, getattr(self, name))
        for name in ("straight_through", "onsets", "monophonic_melody", "critic_intervals"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GANConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.temporal_network not in TEMPORAL_NETWORKS:
            raise ValueError(
                f"GANConfig.temporal_network must be one of {TEMPORAL_NETWORKS}, got {self.temporal_network!r}"
            )
        _positive_number("ema_decay", self.ema_decay, allow_zero=True)
        if not self.ema_decay < 1:
            raise ValueError(f"GANConfig.ema_decay must be in [0, 1), got {self.ema_decay!r}")
        grouped = self.melody_steps > 1 or self.accompaniment_steps > 1
        if self.architecture == "dense" and (self.onsets or self.monophonic_melody or self.critic_intervals or grouped):
            raise ValueError("GANConfig.onsets, monophonic_melody, critic_intervals, melody_steps and "
                             "accompaniment_steps need the conv architecture")
        for name in ("melody_steps", "accompaniment_steps"):
            if self.steps_per_bar % getattr(self, name):
                raise ValueError(f"GANConfig.{name} must divide steps_per_bar ({self.steps_per_bar}), "
                                 f"got {getattr(self, name)}")
        if grouped and not self.monophonic_melody and self.melody_steps != self.accompaniment_steps:
            raise ValueError("GANConfig.melody_steps and accompaniment_steps can differ only with monophonic_melody "
                             "(one sigmoid head writes every track otherwise)")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"GANConfig.architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"GANConfig.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.norm not in NORMS:
            raise ValueError(f"GANConfig.norm must be one of {NORMS}, got {self.norm!r}")
        conv = self.architecture == "conv"
        generator_filters = _int_tuple("generator_filters", self.generator_filters, 4 if conv else None)
        object.__setattr__(self, "generator_filters", generator_filters)
        critic_filters = _int_tuple("critic_filters", self.critic_filters)
        if conv and len(critic_filters) not in (3, 4):
            raise ValueError(f"GANConfig.critic_filters must hold 3 or 4 integers for conv, got {critic_filters!r}")
        if conv and len(critic_filters) == 4 and self.n_bars % _GROUP_BARS:
            raise ValueError(
                f"GANConfig.critic_filters has a 4th (four-bar group) layer, so n_bars must be a multiple of "
                f"{_GROUP_BARS}, got {self.n_bars}"
            )
        object.__setattr__(self, "critic_filters", critic_filters)
        if conv and self.steps_per_bar % _COARSE_TIME:
            raise ValueError(
                f"GANConfig.steps_per_bar must be a multiple of {_COARSE_TIME} for the conv architecture, "
                f"got {self.steps_per_bar}"
            )
        if conv and self.n_pitches % _PITCHES_PER_OCTAVE:
            raise ValueError(
                f"GANConfig.n_pitches must be a multiple of {_PITCHES_PER_OCTAVE} (whole octaves) for the "
                f"conv architecture, got {self.n_pitches}"
            )
        bias = self.output_bias
        is_number = isinstance(bias, (int, float, np.integer, np.floating)) and not isinstance(bias, bool)
        if not is_number or not np.isfinite(bias):
            raise ValueError(f"GANConfig.output_bias must be a finite number, got {self.output_bias!r}")
        _positive_number("gp_weight", self.gp_weight, allow_zero=True)
        _positive_number("drift_weight", self.drift_weight, allow_zero=True)
        _positive_number("learning_rate", self.learning_rate)
        _positive_number("final_lr_fraction", self.final_lr_fraction)
        if self.final_lr_fraction > 1:
            raise ValueError(f"GANConfig.final_lr_fraction must be in (0, 1], got {self.final_lr_fraction!r}")
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            _positive_number(name, value, allow_zero=True)
            if not value < 1:
                raise ValueError(f"GANConfig.{name} must be in [0, 1), got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"GANConfig.seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.opening_condition, bool):
            raise ValueError(f"GANConfig.opening_condition must be True or False, got {self.opening_condition!r}")
        object.__setattr__(self, "meters", _meters(self.meters))
        object.__setattr__(self, "meter_shares", _meter_shares(self.meter_shares, len(self.meters)))
        if not isinstance(self.key_of_c, bool):
            raise ValueError(f"GANConfig.key_of_c must be True or False, got {self.key_of_c!r}")
        object.__setattr__(self, "key_shift_shares", _shares("key_shift_shares", self.key_shift_shares,
                                                             len(KEY_SHIFTS), "shift of KEY_SHIFTS"))
        if self.key_shift_shares and not self.key_of_c:
            raise ValueError("GANConfig.key_shift_shares needs key_of_c")
        if self.architecture == "dense" and self.n_conditions:
            raise ValueError("GANConfig.meters (more than one) and opening_condition need the conv architecture")
        for meter, steps in zip(self.meters, self.meter_steps):
            for name in ("melody_steps", "accompaniment_steps"):
                if steps % getattr(self, name):
                    raise ValueError(f"GANConfig.{name} ({getattr(self, name)}) must divide the {steps} steps of a "
                                     f"{meter[0]}/{meter[1]} bar")

    # ------------------------------------------------------------------ plumbing

    @property
    def n_channels(self) -> int:
        """Channels of a phrase: ``n_tracks``, or ``2 * n_tracks`` with ``onsets``."""
        return self.n_tracks * (2 if self.onsets else 1)

    @property
    def phrase_shape(self) -> tuple[int, int, int, int]:
        """``(n_bars, steps_per_bar, n_pitches, n_channels)`` of the networks' phrases."""
        return (self.n_bars, self.steps_per_bar, self.n_pitches, self.n_channels)

    @property
    def meter_steps(self) -> tuple[int, ...]:
        """Steps of a bar of each of :attr:`meters` (the longest bar has ``steps_per_bar``)."""
        longest = max(numerator / denominator for numerator, denominator in self.meters)
        steps = []
        for numerator, denominator in self.meters:
            exact = self.steps_per_bar * (numerator / denominator) / longest
            if abs(exact - round(exact)) > 1e-9:
                raise ValueError(f"GANConfig: a {numerator}/{denominator} bar is not a whole number of steps "
                                 f"when the longest bar has {self.steps_per_bar} steps")
            steps.append(int(round(exact)))
        return tuple(steps)

    @property
    def n_conditions(self) -> int:
        """Width of the networks' ``conditions`` input (0: unconditional): the meter's
        one-hot part (with more than one meter), then the opening flag."""
        return (len(self.meters) if len(self.meters) > 1 else 0) + int(self.opening_condition)

    @property
    def phrases_per_step(self) -> int:
        """Real phrases one ``train_step`` consumes (``critic_steps * batch_size``)."""
        return self.critic_steps * self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples as lists, nested ones too)."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = [list(item) if isinstance(item, tuple) else item for item in value]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GANConfig":
        """Rebuild a config from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GANConfig keys {unknown}; allowed: {sorted(known)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "GANConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


_NOTE_RECIPE: dict[str, Any] = {
    "onsets": True, "monophonic_melody": True, "straight_through": True, "critic_intervals": True,
    "melody_steps": 2, "accompaniment_steps": 4,
}
"""How the recipe writes and judges notes (``benchmarks/gan_recipe.py``; ``docs/gan.md``)."""

PRESETS: dict[str, dict[str, Any]] = {
    # The recipe of benchmarks/gan_recipe.py (results/gan_recipe.md), sized for Nottingham on
    # 2 CPU cores: 16-bar phrases (2,413 in the training split, a new one every 4 bars), a
    # GRU over the bars, a critic layer over 4-bar groups and the note levers above; 40
    # epochs of 25 generator updates (22.6 min alone, 47 min on 2 busy cores). Three critic steps per
    # generator step instead of five: in the same wall time, 1.7x more generator updates.
    # No weight average: on validation it gave 0.742 against the raw generator's 0.748.
    "default": {
        **_NOTE_RECIPE, "critic_steps": 3, "n_bars": 16, "hop_bars": 4, "temporal_network": "gru",
        "critic_filters": (128, 128, 128, 128), "batch_size": 32, "epochs": 40, "key_of_c": True,
    },
    # For tests and quick mode: a few seconds per epoch on a few hundred plain 4-bar rolls
    # (quick mode adds its preset's NOTE_LEVERS).
    "tiny": {
        "latent_dim": 16,
        "bar_latent_dim": 8,
        "temporal_dim": 8,
        "generator_filters": (16, 8, 8, 4),
        "critic_filters": (16, 16, 16),
        "critic_steps": 2,
        "batch_size": 16,
        "epochs": 2,
        "eval_samples": 32,
    },
    # The seed paper's baseline: dense networks, the original GAN loss, 4 epochs.
    "paper": {
        "architecture": "dense",
        "generator_filters": (256, 512, 1024),
        "critic_filters": (512, 256),
        "norm": "none",
        "loss": "gan",
        "critic_steps": 1,
        "learning_rate": 2e-4,
        "beta_2": 0.999,
        "drift_weight": 0.0,
        "output_bias": 0.0,
        "final_lr_fraction": 1.0,
        "epochs": 4,
    },
    # The walkthrough's budget (what `make run` trains on the folk corpus, whose 2,456
    # training tunes hold only 427 whole 16-bar 4/4 phrases but 4,042 of 4 bars): the
    # note recipe on 4-bar phrases with the default networks, 4 epochs. Batches of 16
    # give 4x the generator updates of 64 in about the same time; measured on folk's
    # validation tunes (6 epochs) that raised the overlap area from 0.49 to 0.50 and the
    # mean melodic interval's from 0.06 to 0.36 (the Markov chain: 0.46 and 0.12). 4
    # epochs instead of 6 (0.49; 2.6 instead of 3.4 min on a slow host) keep `make run`
    # within its 15 minutes.
    "short": {**_NOTE_RECIPE, "critic_steps": 3, "batch_size": 16, "epochs": 4},
}
"""Named starting points for :func:`config_for`: field values that differ from
:class:`GANConfig`'s defaults."""


def config_for(preset: str, **overrides: Any) -> GANConfig:
    """A :class:`GANConfig` from a preset plus keyword overrides (``epochs=...``, ``seed=...``)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    known = {field.name for field in dataclasses.fields(GANConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown GANConfig fields {unknown}; allowed: {sorted(known)}")
    return GANConfig(**{**PRESETS[preset], **overrides})


def phrase_shape(config: GANConfig) -> tuple[int, int, int, int]:
    """``(n_bars, steps_per_bar, n_pitches, n_channels)`` of ``config``."""
    return config.phrase_shape


# ----------------------------------------------------------------------------- builders


class _Seeds:
    """Distinct initialiser seeds per layer, all derived from ``config.seed``."""

    def __init__(self, config: GANConfig, offset: int) -> None:
        self.base = config.seed * _INIT_SEED_STRIDE + offset
        self.count = 0

    def glorot(self) -> keras.initializers.Initializer:
        self.count += 1
        return keras.initializers.GlorotUniform(seed=self.base + self.count)

    def he(self) -> keras.initializers.Initializer:
        self.count += 1
        return keras.initializers.HeNormal(seed=self.base + self.count)


def _norm(config: GANConfig, x, name: str):
    if config.norm == "layer":
        return keras.layers.LayerNormalization(axis=-1, name=name)(x)
    return x


def _check_config(config: Any) -> None:
    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")


def build_generator(config: GANConfig, *, name: str = "generator") -> keras.Model:
    """The generator: ``[z_shared, z_bars]`` -> piano-roll probabilities.

    Parameters
    ----------
    config
        Sizes; initialisers are seeded from ``config.seed``.
    name
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Inputs ``z_shared`` ``(batch, latent_dim)`` and ``z_bars``
        ``(batch, n_bars, bar_latent_dim)``, then ``conditions`` ``(batch,
        n_conditions)`` when the config has any (joined to ``z_shared``); output ``roll``
        ``(batch, n_bars, steps_per_bar, n_pitches, n_channels)``: the probability
        that each cell sounds (a softmax share for a monophonic melody), then with
        ``onsets`` the probability that a sounding cell starts a note. Layers are
        named (``temporal``, ``bar_dense``, ``time_up_1``, ``time_up_2``,
        ``time_conv``, ``pitch_up``, ``melody_softmax``, ``onset_up``, ``roll``).
    """
    _check_config(config)
    seeds = _Seeds(config, 0)
    n_bars, steps, pitches, tracks = config.phrase_shape
    z = keras.Input(shape=(config.latent_dim,), name="z_shared")
    z_bars = keras.Input(shape=(n_bars, config.bar_latent_dim), name="z_bars")
    inputs = [z, z_bars]
    if config.n_conditions:
        conditions = keras.Input(shape=(config.n_conditions,), name="conditions")
        inputs.append(conditions)
        z = keras.layers.Concatenate(name="conditioned_z")([z, conditions])
    if config.architecture == "dense":
        h = keras.layers.Concatenate(name="latent")([z, keras.layers.Flatten(name="flat_z_bars")(z_bars)])
        for index, units in enumerate(config.generator_filters):
            h = keras.layers.Dense(units, kernel_initializer=seeds.he(), name=f"dense_{index}")(h)
            h = _norm(config, h, f"norm_{index}")
            h = keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"act_{index}")(h)
        h = keras.layers.Dense(
            int(np.prod(config.phrase_shape)), activation="sigmoid", kernel_initializer=seeds.glorot(),
            bias_initializer=keras.initializers.Constant(config.output_bias), name="probabilities",
        )(h)
        roll = keras.layers.Reshape(config.phrase_shape, name="roll")(h)
        return keras.Model(inputs, roll, name=name)

    f_coarse, f_time1, f_time2, f_pitch = config.generator_filters
    octaves = pitches // _PITCHES_PER_OCTAVE
    coarse = steps // _COARSE_TIME
    shared = keras.layers.RepeatVector(n_bars, name="shared_per_bar")(z)
    if config.temporal_network == "gru":
        # each bar's code depends on the shared vector, its own vector and the bars before it
        t = keras.layers.Concatenate(name="temporal_inputs")([shared, z_bars])
        t = keras.layers.GRU(config.temporal_dim, return_sequences=True, kernel_initializer=seeds.glorot(),
                             recurrent_initializer=keras.initializers.Orthogonal(seed=seeds.base + 999),
                             name="temporal")(t)
    else:
        # temporal network: the shared vector -> one code per bar
        t = keras.layers.Dense(n_bars * config.temporal_dim, kernel_initializer=seeds.he(), name="temporal")(z)
        t = keras.layers.LeakyReLU(_LEAKY_SLOPE, name="temporal_act")(t)
        t = keras.layers.Reshape((n_bars, config.temporal_dim), name="temporal_codes")(t)
    h = keras.layers.Concatenate(name="bar_codes")([shared, t, z_bars])  # (batch, bars, code)
    # bar generator: code -> (coarse steps, octaves, channels) for each bar; bars join in time
    h = keras.layers.Dense(coarse * octaves * f_coarse, kernel_initializer=seeds.he(), name="bar_dense")(h)
    h = keras.layers.Reshape((n_bars * coarse, octaves, f_coarse), name="coarse_grid")(h)
    h = _norm(config, h, "coarse_norm")
    h = keras.layers.LeakyReLU(_LEAKY_SLOPE, name="coarse_act")(h)
    for index, filters in enumerate((f_time1, f_time2), start=1):
        h = keras.layers.Conv2DTranspose(
            filters, (2, 1), strides=(2, 1), kernel_initializer=seeds.he(), name=f"time_up_{index}"
        )(h)
        h = _norm(config, h, f"time_norm_{index}")
        h = keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"time_act_{index}")(h)
    # steps at a time (1: each step on its own; 3: also its neighbours, across bar lines)
    h = keras.layers.Conv2D(
        f_pitch, (config.generator_time_kernel, 1), padding="same", kernel_initializer=seeds.he(),
        name="time_conv",
    )(h)
    h = _norm(config, h, "time_conv_norm")
    h = keras.layers.LeakyReLU(_LEAKY_SLOPE, name="time_conv_act")(h)
    roll = _output_heads(config, h, seeds)  # (bars * steps, pitches, channels)
    roll = keras.layers.Reshape(config.phrase_shape, name="roll")(roll)
    return keras.Model(inputs, roll, name=name)


def _pitch_head(config: GANConfig, h, seeds: _Seeds, channels: int, name: str, activation: str | None):
    """Each (step, octave) feature writes the 12 pitch classes of its octave, per channel."""
    return keras.layers.Conv2DTranspose(
        channels, (1, _PITCHES_PER_OCTAVE), strides=(1, _PITCHES_PER_OCTAVE), activation=activation,
        kernel_initializer=seeds.glorot(), bias_initializer=keras.initializers.Constant(config.output_bias),
        name=name,
    )(h)


def _shared_steps(logits, steps: int, name: str):
    """``steps`` consecutive steps share one decision: their logits are averaged (1: unchanged)."""
    if steps == 1:
        return logits
    pooled = keras.layers.AveragePooling2D((steps, 1), name=f"{name}_step_groups")(logits)
    return keras.layers.UpSampling2D((steps, 1), name=f"{name}_shared_steps")(pooled)


def _sigmoid_head(config: GANConfig, h, seeds: _Seeds, channels: int, name: str, steps: int):
    """A sigmoid per cell (:func:`_pitch_head`), its logits shared by groups of ``steps``."""
    if steps == 1:
        return _pitch_head(config, h, seeds, channels, name, "sigmoid")
    logits = _shared_steps(_pitch_head(config, h, seeds, channels, name, None), steps, name)
    return keras.layers.Activation("sigmoid", name=f"{name}_sigmoid")(logits)


def _output_heads(config: GANConfig, h, seeds: _Seeds):
    """``(time, octaves, features)`` -> ``(time, pitches, n_channels)`` probabilities.

    Plain rolls: one sigmoid per cell and track (``pitch_up``). ``monophonic_melody``:
    track 0 is a softmax over its pitches and a rest (``melody_logits`` and
    ``melody_rest`` -> ``melody_softmax``; the rest's share is dropped, so a step's
    melody cells sum to at most 1). ``onsets``: one more sigmoid per cell and track
    (``onset_up``), the probability that a sounding cell starts a note.
    """
    tracks = config.n_tracks
    if not config.monophonic_melody:
        sounding = _sigmoid_head(config, h, seeds, tracks, "pitch_up", config.melody_steps)
    else:
        time, octaves, features = h.shape[1], h.shape[2], h.shape[3]
        logits = _pitch_head(config, h, seeds, 1, "melody_logits", None)  # (time, pitches, 1)
        per_step = keras.layers.Reshape((time, octaves * features), name="melody_step_features")(h)
        rest = keras.layers.Dense(1, kernel_initializer=seeds.glorot(), name="melody_rest")(per_step)
        rest = keras.layers.Reshape((time, 1, 1), name="melody_rest_cell")(rest)
        choice = keras.layers.Concatenate(axis=2, name="melody_choices")([logits, rest])
        choice = _shared_steps(choice, config.melody_steps, "melody")
        choice = keras.layers.Softmax(axis=2, name="melody_softmax")(choice)
        melody = keras.layers.Cropping2D(((0, 0), (0, 1)), name="melody")(choice)  # drop the rest
        parts = [melody]
        if tracks > 1:
            parts.append(_sigmoid_head(config, h, seeds, tracks - 1, "pitch_up", config.accompaniment_steps))
        sounding = keras.layers.Concatenate(axis=-1, name="sounding")(parts) if len(parts) > 1 else melody
    if not config.onsets:
        return sounding
    onsets = _pitch_head(config, h, seeds, tracks, "onset_up", "sigmoid")
    return keras.layers.Concatenate(axis=-1, name="with_onsets")([sounding, onsets])


def build_critic(config: GANConfig, *, name: str = "critic") -> keras.Model:
    """The critic (discriminator): a phrase -> one unbounded score (higher = more real).

    Parameters
    ----------
    config
        Sizes; initialisers are seeded from ``config.seed``.
    name
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Input ``roll`` ``(batch, n_bars, steps_per_bar, n_pitches, n_tracks)`` (floats
        in [0, 1]), then ``conditions`` ``(batch, n_conditions)`` when the config has
        any (joined to every bar's features); output ``score`` ``(batch, 1)``: a Wasserstein critic score for
        ``loss="wgan-gp"``, a logit for ``loss="gan"``. No batch normalisation.
    """
    _check_config(config)
    seeds = _Seeds(config, _INIT_SEED_STRIDE // 2)
    n_bars, steps, pitches, tracks = config.phrase_shape
    time = n_bars * steps
    roll = keras.Input(shape=config.phrase_shape, name="roll")
    inputs = roll
    if config.n_conditions:
        conditions = keras.Input(shape=(config.n_conditions,), name="conditions")
        inputs = [roll, conditions]
    if config.architecture == "dense":
        h = keras.layers.Flatten(name="flat")(roll)
        for index, units in enumerate(config.critic_filters):
            h = keras.layers.Dense(units, kernel_initializer=seeds.he(), name=f"dense_{index}")(h)
            h = _norm(config, h, f"norm_{index}")
            h = keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"act_{index}")(h)
        score = keras.layers.Dense(1, kernel_initializer=seeds.glorot(), name="score")(h)
        return keras.Model(inputs, score, name=name)

    f_step, f_beat, f_bar = config.critic_filters[:3]
    octaves = pitches // _PITCHES_PER_OCTAVE
    beat = _COARSE_TIME
    tracks = config.n_channels
    x = keras.layers.Reshape((time, pitches * tracks), name="steps")(roll)  # one row per step
    # onset stream: a cell that is on now and was off one step earlier starts a note
    previous = keras.layers.Cropping1D((0, 1), name="previous_crop")(
        keras.layers.ZeroPadding1D((1, 0), name="previous_pad")(x)
    )
    onsets = keras.layers.ReLU(name="onsets")(keras.layers.Subtract(name="step_change")([x, previous]))
    # chroma stream: octaves folded, so a chord is the same pattern in every register
    chroma = keras.layers.Reshape((time, octaves, _PITCHES_PER_OCTAVE * tracks), name="by_octave")(x)
    chroma = keras.layers.AveragePooling2D((1, octaves), name="chroma_pool")(chroma)
    chroma = keras.layers.Reshape((time, _PITCHES_PER_OCTAVE * tracks), name="chroma")(chroma)
    views = [x, onsets, chroma]
    if config.critic_intervals:
        views.append(_melody_intervals(roll, config, seeds))
    h = keras.layers.Concatenate(name="step_features")(views)

    def dense(h, units, label):
        h = keras.layers.Dense(units, kernel_initializer=seeds.he(), name=label)(h)
        h = _norm(config, h, f"{label}_norm")
        return keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"{label}_act")(h)

    # convolutions along time with kernel = stride, written as dense layers over windows
    h = dense(h, f_step, "step_conv")  # (time, f_step): kernel (1 step, all pitches)
    h = keras.layers.Reshape((time // beat, beat * f_step), name="beats")(h)
    h = dense(h, f_beat, "beat_conv")  # (beats, f_beat): kernel 4 steps
    h = keras.layers.Reshape((n_bars, (steps // beat) * f_beat), name="bars")(h)
    if config.n_conditions:  # every bar is judged knowing its meter and whether it opens the tune
        per_bar = keras.layers.RepeatVector(n_bars, name="conditions_per_bar")(conditions)
        h = keras.layers.Concatenate(name="conditioned_bars")([h, per_bar])
    h = dense(h, f_bar, "bar_conv")  # (bars, f_bar): kernel 1 bar
    if len(config.critic_filters) == 4:
        h = keras.layers.Reshape((n_bars // _GROUP_BARS, _GROUP_BARS * f_bar), name="groups")(h)
        h = dense(h, config.critic_filters[3], "group_conv")  # (groups, f_group): kernel 4 bars
    h = keras.layers.Flatten(name="phrase")(h)
    score = keras.layers.Dense(1, kernel_initializer=seeds.glorot(), name="score")(h)
    return keras.Model(inputs, score, name=name)


_INTERVAL_LAGS = (1, 2, 4, 8)  # steps back: a sixteenth, an eighth, a beat, two beats
_PITCH_READOUTS = 8


def _melody_intervals(roll, config: GANConfig, seeds: _Seeds):
    """The critic's melody view: learnt pitch read-outs of track 0 per step and their
    differences :data:`_INTERVAL_LAGS` steps back, ``(time, readouts * (1 + lags))``."""
    n_bars, steps, pitches, channels = config.phrase_shape
    time = n_bars * steps
    cells = keras.layers.Reshape((time, pitches, channels), name="melody_cells")(roll)
    cells = keras.layers.Permute((1, 3, 2), name="melody_by_channel")(cells)  # (time, channels, pitches)
    melody = keras.layers.Cropping2D(((0, 0), (0, channels - 1)), name="melody_track")(cells)
    melody = keras.layers.Reshape((time, pitches), name="melody_pitches")(melody)
    height = keras.layers.Dense(_PITCH_READOUTS, use_bias=False, kernel_initializer=seeds.glorot(),
                                name="melody_height")(melody)
    parts = [height]
    for lag in _INTERVAL_LAGS:
        earlier = keras.layers.Cropping1D((0, lag), name=f"earlier_crop_{lag}")(
            keras.layers.ZeroPadding1D((lag, 0), name=f"earlier_pad_{lag}")(height)
        )
        parts.append(keras.layers.Subtract(name=f"interval_{lag}")([height, earlier]))
    return keras.layers.Concatenate(name="melody_intervals")(parts)


# ----------------------------------------------------------------------------- the GAN


class MusicGAN(keras.Model):
    """A generator and a critic trained together by :meth:`train_step` under ``fit()``.

    Parameters
    ----------
    generator, critic
        Models from :func:`build_generator` and :func:`build_critic` (or loaded ones).
    config
        The :class:`GANConfig` they were built with.

    Notes
    -----
    Call :meth:`compile` (no arguments needed: two Adam optimizers are made from the
    config) and then ``fit`` on batches of ``critic_steps * batch_size`` real phrases
    (``float32`` in {0, 1}); :func:`musiclib.gan.training.train_gan` does all of this.
    The noise of training step ``i`` depends only on ``(config.seed, i)``, so a run
    resumed from a backup draws the same noise as an uninterrupted one.
    """

    def __init__(self, generator: keras.Model, critic: keras.Model, config: GANConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_config(config)
        self.config = config
        self.generator = generator
        self.critic = critic
        self.ema_generator = None
        if config.ema_decay > 0:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self.noise_seed = keras.random.SeedGenerator(config.seed, name="noise_seed")
        self.trackers = {key: keras.metrics.Mean(name=key) for key in LOSS_NAMES}
        self.d_optimizer = None
        self.g_optimizer = None
        self.built = True  # both networks are built functional models

    @classmethod
    def from_config_object(cls, config: GANConfig) -> "MusicGAN":
        """Build fresh networks for ``config`` and wrap them."""
        return cls(build_generator(config), build_critic(config), config)

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs: Any) -> None:  # noqa: D401
        """Set the two optimizers (default: Adam from the config) and build their state."""
        kwargs.setdefault("optimizer", None)  # no third optimizer: train_step uses the two below
        super().compile(**kwargs)
        cfg = self.config
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(
            cfg.learning_rate, beta_1=cfg.beta_1, beta_2=cfg.beta_2, name="d_adam"
        )
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(
            cfg.learning_rate, beta_1=cfg.beta_1, beta_2=cfg.beta_2, name="g_adam"
        )
        # Optimizer variables must exist before BackupAndRestore loads a backup into them.
        self.d_optimizer.build(self.critic.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def call(self, inputs, training: bool = False):
        """Run the generator on ``[z_shared, z_bars]`` (and ``conditions``, if any)."""
        return self.generator(inputs, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator that generates (and is saved): the weight average with ``ema_decay``."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    # ------------------------------------------------------------------ noise

    def _latents(self, n):
        cfg = self.config
        z = keras.random.normal((n, cfg.latent_dim), seed=self.noise_seed)
        z_bars = keras.random.normal((n, cfg.n_bars, cfg.bar_latent_dim), seed=self.noise_seed)
        return z, z_bars

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based) under the config's linear decay."""
        cfg = self.config
        progress = epoch / (cfg.epochs - 1) if cfg.epochs > 1 else 0.0
        return float(cfg.learning_rate * (1.0 - (1.0 - cfg.final_lr_fraction) * min(max(progress, 0.0), 1.0)))

    def set_learning_rate(self, value: float) -> None:
        """Set both optimizers' learning rate."""
        for optimizer in (self.d_optimizer, self.g_optimizer):
            optimizer.learning_rate.assign(value)

    def sample_latents(self, n: int, *, seed: int):
        """``(z_shared, z_bars)`` for ``n`` phrases, a pure function of ``(n, seed)``
        (see :func:`sample_latents`)."""
        return sample_latents(self.config, n, seed=seed)

    def generate(self, n: int, *, seed: int, batch_size: int = 256, conditions: np.ndarray | None = None
                 ) -> np.ndarray:
        """``n`` phrases of on-probabilities, deterministic for a given ``seed``.

        ``conditions`` (``(n, n_conditions)``, see :func:`conditions_for`) defaults to
        :func:`sample_conditions`' openings in the config's meter shares.

        Returns
        -------
        numpy.ndarray
            ``float32`` ``(n, *config.phrase_shape)`` in [0, 1]; :func:`harden` (or
            ``musiclib.gan.binarize(..., config=config)``) turns them into notes.
        """
        return generate_phrases(self.sampler, self.config, n, seed=seed, batch_size=batch_size,
                                conditions=conditions)

    # ------------------------------------------------------------------ training

    def _generator_call(self, z, z_bars, conditions, training: bool):
        inputs = [z, z_bars] if conditions is None else [z, z_bars, conditions]
        return self.generator(inputs, training=training)

    def _critic_call(self, roll, conditions, training: bool):
        return self.critic(roll if conditions is None else [roll, conditions], training=training)

    def _as_critic_input(self, fake, conditions=None):
        """What the critic sees of generated phrases: probabilities, or binarised with a
        straight-through gradient (``straight_through``); onsets as ``onset * sounding``;
        steps past a shorter meter's bar silenced."""
        cfg = self.config
        if conditions is not None and len(cfg.meters) > 1:
            fake = fake * _step_mask_ops(cfg, conditions)
        tracks = cfg.n_tracks
        sounding = fake[..., :tracks] if cfg.onsets else fake
        if cfg.straight_through:
            hard = _hard_sounding(sounding, cfg.monophonic_melody)
            sounding = sounding + keras.ops.stop_gradient(hard - sounding)
        if not cfg.onsets:
            return sounding
        starts = fake[..., tracks:]
        if cfg.straight_through:
            hard = keras.ops.cast(starts > 0.5, starts.dtype)
            starts = starts + keras.ops.stop_gradient(hard - starts)
        return keras.ops.concatenate([sounding, starts * sounding], axis=-1)

    def _critic_loss(self, real, fake, conditions=None, training: bool = True):
        tf = _tf.tensorflow()  # GradientTape: TensorFlow backend only

        cfg = self.config
        real_score = self._critic_call(real, conditions, training)
        fake_score = self._critic_call(fake, conditions, training)
        mean_real, mean_fake = keras.ops.mean(real_score), keras.ops.mean(fake_score)
        if cfg.loss == "gan":
            bce = keras.losses.binary_crossentropy
            real_loss = bce(keras.ops.ones_like(real_score), real_score, from_logits=True)
            fake_loss = bce(keras.ops.zeros_like(fake_score), fake_score, from_logits=True)
            loss = keras.ops.mean(real_loss) + keras.ops.mean(fake_loss)
            return loss, keras.ops.zeros(()), mean_real, mean_fake
        n = keras.ops.shape(real)[0]
        eps = keras.random.uniform((n, 1, 1, 1, 1), seed=self.noise_seed)
        mixed = real + eps * (fake - real)
        with tf.GradientTape() as inner:
            inner.watch(mixed)
            mixed_score = self._critic_call(mixed, conditions, training)
        grads = inner.gradient(mixed_score, mixed)
        norms = keras.ops.sqrt(keras.ops.sum(keras.ops.square(grads), axis=(1, 2, 3, 4)) + 1e-12)
        gp = keras.ops.mean(keras.ops.square(norms - 1.0))
        drift = keras.ops.mean(keras.ops.square(real_score))
        loss = mean_fake - mean_real + cfg.gp_weight * gp + cfg.drift_weight * drift
        return loss, gp, mean_real, mean_fake

    def gradient_penalty(self, real, fake, conditions=None):
        """The (unweighted) gradient penalty ``E[(||grad critic(x_mix)|| - 1)^2]``."""
        real = keras.ops.convert_to_tensor(real, dtype="float32")
        fake = keras.ops.convert_to_tensor(fake, dtype="float32")
        if conditions is not None:
            conditions = keras.ops.convert_to_tensor(conditions, dtype="float32")
        if self.config.loss != "wgan-gp":
            return keras.ops.zeros(())
        return self._critic_loss(real, fake, conditions, training=False)[1]

    def train_step(self, data):
        """``critic_steps`` critic updates, then one generator update; returns the named losses.

        ``data`` is a batch of real phrases, or ``(phrases, conditions)`` for a
        conditional config; generated phrases get the real ones' conditions."""
        tf = _tf.tensorflow()  # GradientTape: TensorFlow backend only

        cfg = self.config
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = keras.ops.cast(real, "float32")
        conditions = None
        if cfg.n_conditions:
            if not isinstance(data, (tuple, list)) or len(data) < 2 or data[1] is None:
                raise ValueError("this GANConfig is conditional: train on (phrases, conditions) batches")
            conditions = keras.ops.cast(data[1], "float32")
        n = keras.ops.shape(real)[0] // cfg.critic_steps
        step = keras.ops.cast(self.g_optimizer.iterations, "int64")
        self.noise_seed.state.assign(
            keras.ops.stack([keras.ops.convert_to_tensor(cfg.seed, "int64"), step * _NOISE_DRAWS_PER_STEP])
        )
        d_loss = gp = real_score = fake_score = keras.ops.zeros(())
        for i in range(cfg.critic_steps):
            chunk = real[i * n : (i + 1) * n]
            chunk_conditions = None if conditions is None else conditions[i * n : (i + 1) * n]
            z, z_bars = self._latents(n)
            fake = self._as_critic_input(self._generator_call(z, z_bars, chunk_conditions, True), chunk_conditions)
            with tf.GradientTape() as tape:
                d_loss, gp, real_score, fake_score = self._critic_loss(chunk, fake, chunk_conditions)
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))

        z, z_bars = self._latents(n)
        g_conditions = None if conditions is None else conditions[:n]
        with tf.GradientTape() as tape:
            fake = self._as_critic_input(self._generator_call(z, z_bars, g_conditions, True), g_conditions)
            score = self._critic_call(fake, g_conditions, True)
            if cfg.loss == "gan":
                g_loss = keras.ops.mean(
                    keras.losses.binary_crossentropy(keras.ops.ones_like(score), score, from_logits=True)
                )
            else:
                g_loss = -keras.ops.mean(score)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.ema_generator is not None:
            self._update_ema()

        values = {
            "d_loss": d_loss, "g_loss": g_loss, "gp": gp, "real_score": real_score, "fake_score": fake_score,
        }
        for key, value in values.items():
            self.trackers[key].update_state(value)
        return {key: tracker.result() for key, tracker in self.trackers.items()}


# ----------------------------------------------------------------------------- generation


def sample_latents(config: GANConfig, n: int, *, seed: int):
    """``(z_shared, z_bars)`` for ``n`` phrases, a pure function of ``(n, seed)``.

    Both come from one standard-normal draw seeded by ``seed`` (so neighbouring
    seeds share no values), one row per phrase.
    """
    width = config.latent_dim + config.n_bars * config.bar_latent_dim
    draw = keras.random.normal((n, width), seed=int(seed))
    z = draw[:, : config.latent_dim]
    z_bars = keras.ops.reshape(draw[:, config.latent_dim :], (n, config.n_bars, config.bar_latent_dim))
    return z, z_bars


def generate_phrases(generator: keras.Model, config: GANConfig, n: int, *, seed: int,
                     batch_size: int = 256, conditions: np.ndarray | None = None) -> np.ndarray:
    """``n`` phrases of on-probabilities from ``generator``, deterministic for a ``seed``.

    Parameters
    ----------
    conditions
        ``(n, n_conditions)`` (see :func:`conditions_for`) for a conditional config;
        None: :func:`sample_conditions` with the same seed (openings, meters drawn by
        ``config.meter_shares``). Must be None for an unconditional one.

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(n, *config.phrase_shape)`` in [0, 1], zero on the steps past a
        shorter meter's bar; :func:`harden` turns them into notes.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if n == 0:
        return np.zeros((0, *config.phrase_shape), dtype=np.float32)
    conditions = _checked_conditions(config, conditions, int(n), int(seed))
    z, z_bars = sample_latents(config, int(n), seed=int(seed))
    z, z_bars = keras.ops.convert_to_numpy(z), keras.ops.convert_to_numpy(z_bars)
    out = []
    for i in range(0, int(n), batch_size):
        inputs = [z[i : i + batch_size], z_bars[i : i + batch_size]]
        if conditions is not None:
            inputs.append(conditions[i : i + batch_size])
        out.append(keras.ops.convert_to_numpy(generator(inputs, training=False)))
    phrases = np.concatenate(out).astype(np.float32)
    if conditions is not None and len(config.meters) > 1:
        phrases *= step_mask(config, meter_index_of(config, conditions))
    return phrases


# ----------------------------------------------------------------------------- conditions

_CONDITION_STREAM = 7919  # a second random stream of a seed: the meters of generated pieces
_KEY_STREAM = 6421  # a third: the keys generated pieces are moved to (key_of_c)


def conditions_for(config: GANConfig, meter_index: Any, opening: Any) -> np.ndarray:
    """The ``conditions`` input of phrases in meters ``config.meters[meter_index]``.

    Parameters
    ----------
    config
        A conditional config (``n_conditions > 0``).
    meter_index
        ``(n,)`` indices into ``config.meters``.
    opening
        ``(n,)`` booleans: the phrase opens its tune (used with ``opening_condition``).

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(n, n_conditions)``: the meter one-hot (with more than one meter),
        then the opening flag.
    """
    meter_index = np.asarray(meter_index, dtype=np.int64).reshape(-1)
    opening = np.asarray(opening, dtype=bool).reshape(-1)
    if len(opening) != len(meter_index):
        raise ValueError(f"meter_index and opening must have one value per phrase, got {len(meter_index)} "
                         f"and {len(opening)}")
    if len(meter_index) and (meter_index.min() < 0 or meter_index.max() >= len(config.meters)):
        raise ValueError(f"meter_index must index GANConfig.meters ({len(config.meters)} meters)")
    parts = []
    if len(config.meters) > 1:
        parts.append(np.eye(len(config.meters), dtype=np.float32)[meter_index])
    if config.opening_condition:
        parts.append(opening[:, None].astype(np.float32))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(meter_index), 0), np.float32)


def sample_conditions(config: GANConfig, n: int, *, seed: int, opening: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Conditions of ``n`` generated phrases: meters drawn by ``config.meter_shares``.

    Returns
    -------
    tuple
        ``(conditions, meter_index)``: the :func:`conditions_for` array and each
        phrase's index into ``config.meters``; a pure function of ``(n, seed)``.
    """
    if len(config.meters) > 1:
        shares = np.asarray(config.meter_shares or [1.0] * len(config.meters), dtype=float)
        rng = np.random.default_rng([int(seed), _CONDITION_STREAM])
        meter_index = rng.choice(len(config.meters), size=int(n), p=shares / shares.sum())
    else:
        meter_index = np.zeros(int(n), dtype=np.int64)
    return conditions_for(config, meter_index, np.full(int(n), bool(opening))), meter_index


def sample_key_shifts(config: GANConfig, n: int, *, seed: int) -> np.ndarray:
    """Semitones (of :data:`KEY_SHIFTS`) to move each of ``n`` generated pieces by: drawn by
    ``config.key_shift_shares`` with ``config.key_of_c``, zeros otherwise; a pure function of
    ``(n, seed)``."""
    if not config.key_of_c:
        return np.zeros(int(n), dtype=np.int64)
    shares = np.asarray(config.key_shift_shares or [1.0] * len(KEY_SHIFTS), dtype=float)
    rng = np.random.default_rng([int(seed), _KEY_STREAM])
    return np.asarray(KEY_SHIFTS, dtype=np.int64)[rng.choice(len(KEY_SHIFTS), size=int(n), p=shares / shares.sum())]


def meter_index_of(config: GANConfig, conditions: np.ndarray) -> np.ndarray:
    """Each phrase's index into ``config.meters``, read from its conditions."""
    if len(config.meters) == 1:
        return np.zeros(len(conditions), dtype=np.int64)
    return np.argmax(np.asarray(conditions)[:, : len(config.meters)], axis=1)


def step_mask(config: GANConfig, meter_index: np.ndarray) -> np.ndarray:
    """``float32`` ``(n, 1, steps_per_bar, 1, 1)``: 1 on the steps of each phrase's bar, 0 past it."""
    lengths = np.asarray(config.meter_steps)[np.asarray(meter_index, dtype=np.int64)]
    mask = np.arange(config.steps_per_bar)[None, :] < lengths[:, None]
    return mask.astype(np.float32)[:, None, :, None, None]


def _step_mask_ops(config: GANConfig, conditions):
    """:func:`step_mask` in Keras ops, from the conditions' meter one-hot."""
    table = step_mask(config, np.arange(len(config.meters)))[:, 0, :, 0, 0]  # (meters, steps)
    mask = keras.ops.matmul(conditions[:, : len(config.meters)], keras.ops.convert_to_tensor(table))
    return keras.ops.reshape(mask, (-1, 1, config.steps_per_bar, 1, 1))


def _checked_conditions(config: GANConfig, conditions: Any, n: int, seed: int) -> np.ndarray | None:
    if not config.n_conditions:
        if conditions is not None:
            raise ValueError("this GANConfig is unconditional: give no conditions")
        return None
    if conditions is None:
        return sample_conditions(config, n, seed=seed)[0]
    conditions = np.asarray(conditions, dtype=np.float32)
    if conditions.shape != (n, config.n_conditions):
        raise ValueError(f"conditions must have shape ({n}, {config.n_conditions}), got {conditions.shape}")
    return conditions


# ----------------------------------------------------------------------------- notes


def _hard_sounding(sounding, monophonic_melody: bool):
    """Keras ops: cells ``> 0.5``; a monophonic melody's most likely pitch, or a rest."""
    hard = keras.ops.cast(sounding > 0.5, sounding.dtype)
    if not monophonic_melody:
        return hard
    melody = sounding[..., :1]
    rest = 1.0 - keras.ops.sum(melody, axis=-2, keepdims=True)
    best = keras.ops.argmax(keras.ops.concatenate([melody, rest], axis=-2)[..., 0], axis=-1)  # (...)
    pitches = int(melody.shape[-2])
    chosen = keras.ops.one_hot(best, pitches + 1, dtype=sounding.dtype)[..., :pitches]
    chosen = keras.ops.expand_dims(chosen, -1)
    return keras.ops.concatenate([chosen, hard[..., 1:]], axis=-1)


def harden(
    probabilities: np.ndarray,
    config: GANConfig,
    *,
    threshold: float = 0.5,
    bernoulli: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Boolean phrases (notes) from the generator's probabilities, by ``config``'s rules.

    Parameters
    ----------
    probabilities
        ``(..., n_pitches, n_channels)`` from :meth:`MusicGAN.generate`.
    config
        Says whether track 0 is a monophonic melody and whether onsets follow.
    threshold
        A sigmoid cell is on above it (and an onset starts a note above it).
    bernoulli
        Draw instead (seeded by ``seed``): each sigmoid cell with its probability, a
        monophonic melody's pitch (or rest) from its softmax.

    Returns
    -------
    numpy.ndarray
        ``bool``, the same shape: what ``PianoRollEncoding.decode`` takes (onsets only
        where a cell sounds).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    tracks = config.n_tracks
    rng = np.random.default_rng(seed)
    draw = (lambda p: rng.random(p.shape, dtype=np.float32) < p) if bernoulli else (lambda p: p > threshold)
    sounding = draw(probabilities[..., :tracks])
    if config.monophonic_melody:
        melody = probabilities[..., 0]  # (..., pitches)
        choices = np.concatenate([melody, np.clip(1.0 - melody.sum(-1, keepdims=True), 0.0, None)], axis=-1)
        if bernoulli:
            cumulative = np.cumsum(choices, axis=-1)
            u = rng.random(cumulative.shape[:-1] + (1,), dtype=np.float32) * cumulative[..., -1:]
            best = np.minimum((cumulative < u).sum(-1), choices.shape[-1] - 1)
        else:
            best = choices.argmax(-1)
        sounding[..., 0] = np.arange(melody.shape[-1]) == best[..., None]
    if not config.onsets:
        return sounding
    return np.concatenate([sounding, draw(probabilities[..., tracks:]) & sounding], axis=-1)
