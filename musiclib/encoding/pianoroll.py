"""Multi-track piano rolls for the GAN (MuseGAN's layout: time x pitch x track).

A roll is a boolean array of shape ``(n_steps, n_pitches, n_tracks)``; cell
``[t, p, k]`` is on when a note of pitch ``lowest_pitch + p`` in track ``k`` sounds
during step ``t``. Kept: onsets and ends on the step grid (a sixteenth by default),
pitch and track. Lost: velocity, tempo, key, meter, notes outside the pitch range,
and silence after the last note (pass ``n_steps``).

Onsets: a plain roll merges two repeated notes of one pitch into one long note. With
``onsets=True``, :meth:`PianoRollEncoding.encode` and :meth:`PianoRollEncoding.bars`
append one *onset* channel per track (cell ``[t, p, n_tracks + k]`` is on when a note
of track ``k`` starts at step ``t``), so repeated and held notes differ, and
:meth:`PianoRollEncoding.decode` takes such a roll back exactly (MuseGAN's onset
streams; the GAN's ``onsets`` option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from musiclib.encoding._base import (
    ConfigMixin,
    bar_lines,
    check_int,
    check_number,
    gather_notes,
    signatures_or_default,
    to_steps,
    track_names,
)
from musiclib.tune import DEFAULT_QPM, Tempo, TimeSignature, Track, Tune, make_notes

__all__ = ["PianoRollEncoding"]

_MIDI_PITCHES = 128
_QUARTERS_PER_WHOLE = 4
_DEFAULT_VELOCITY = 80
_ROLL_DIMS = 3
_BARRED_ROLL_DIMS = 4


@dataclass(frozen=True)
class PianoRollEncoding(ConfigMixin):
    """Boolean piano rolls ``(steps, pitches, tracks)``.

    Parameters
    ----------
    steps_per_quarter
        Time resolution in steps per quarter note (4: a sixteenth-note grid).
    lowest_pitch, n_pitches
        The pitch rows: ``lowest_pitch .. lowest_pitch + n_pitches - 1`` (MuseGAN's
        84 pitches from C1 by default).
    n_tracks
        Tracks kept apart; later pitched tracks merge into the last, drums are
        dropped (the rule of :class:`~musiclib.encoding.events.EventEncoding`).
    """

    name: ClassVar[str] = "pianoroll"

    steps_per_quarter: int = 4
    lowest_pitch: int = 24
    n_pitches: int = 84
    n_tracks: int = 2

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "steps_per_quarter", self.steps_per_quarter, minimum=1)
        check_int(owner, "lowest_pitch", self.lowest_pitch, minimum=0, maximum=_MIDI_PITCHES - 1)
        check_int(owner, "n_pitches", self.n_pitches, minimum=1, maximum=_MIDI_PITCHES - self.lowest_pitch)
        check_int(owner, "n_tracks", self.n_tracks, minimum=1)

    @property
    def highest_pitch(self) -> int:
        """The top pitch row's MIDI pitch."""
        return self.lowest_pitch + self.n_pitches - 1

    def steps_per_bar(self, meter: tuple[int, int] = (4, 4)) -> int:
        """Steps in one bar of ``meter`` (16 for 4/4 at 4 steps per quarter).

        Raises
        ------
        ValueError
            If the bar is not a whole number of steps.
        """
        numerator, denominator = meter
        steps = numerator * _QUARTERS_PER_WHOLE * self.steps_per_quarter / denominator
        if numerator < 1 or denominator < 1 or steps != int(steps):
            raise ValueError(
                f"meter must be (numerator, denominator) with a bar of whole steps at "
                f"{self.steps_per_quarter} steps per quarter, got {meter!r}"
            )
        return int(steps)

    # ------------------------------------------------------------------ encoding

    def encode(self, tune: Tune, *, n_steps: int | None = None, onsets: bool = False) -> np.ndarray:
        """The roll of ``tune``: a note covers steps ``[round(start), round(end))``, at least one.

        Parameters
        ----------
        tune
            The music.
        n_steps
            Length of the roll; notes past it are cut. Default: up to the end of the
            last note (a tune does not record silence after it).
        onsets
            Also return the onset channels: cell ``[t, p, n_tracks + k]`` is on when a
            note of pitch row ``p`` in track ``k`` starts at step ``t``.

        Returns
        -------
        numpy.ndarray
            ``bool``, shape ``(n_steps, n_pitches, n_tracks)``, or
            ``(n_steps, n_pitches, 2 * n_tracks)`` with ``onsets``.
        """
        spq = self.steps_per_quarter
        track, notes, _ = gather_notes(tune, self.n_tracks)
        onset = to_steps(notes["start"], spq)
        end = to_steps(notes["start"] + notes["duration"], spq)
        end = np.maximum(end, onset + 1)
        row = notes["pitch"].astype(np.int64) - self.lowest_pitch
        keep = (row >= 0) & (row < self.n_pitches) & (end > 0)
        onset, end, row, track = np.maximum(onset[keep], 0), end[keep], row[keep], track[keep]
        if n_steps is None:
            n_steps = int(end.max()) if len(end) else 0
        else:
            check_int(type(self).__name__ + ".encode", "n_steps", n_steps, minimum=0)
            inside = onset < n_steps
            onset, end = onset[inside], np.minimum(end[inside], n_steps)
            row, track = row[inside], track[inside]
        shape = (n_steps + 1, self.n_pitches, self.n_tracks)
        size = int(np.prod(shape))
        starts = np.bincount(np.ravel_multi_index((onset, row, track), shape), minlength=size)
        change = starts - np.bincount(np.ravel_multi_index((end, row, track), shape), minlength=size)
        sounding = np.cumsum(change.reshape(shape)[:-1], axis=0) > 0
        if not onsets:
            return sounding
        return np.concatenate([sounding, starts.reshape(shape)[:-1] > 0], axis=-1)

    # ------------------------------------------------------------------ decoding

    def decode(
        self,
        roll: np.ndarray,
        *,
        qpm: float = DEFAULT_QPM,
        time_signature: tuple[int, int] = (4, 4),
        threshold: float = 0.5,
    ) -> Tune:
        """A tune from a roll; each run of active steps of one pitch and track is one note.

        Parameters
        ----------
        roll
            ``(steps, pitches, tracks)`` or ``(bars, steps_per_bar, pitches, tracks)``
            (bars are joined in order); ``bool``, or numbers compared with
            ``threshold`` (a cell is on when ``> threshold``). With ``2 * n_tracks``
            channels, the second half are onsets (see :meth:`encode`): a sounding cell
            whose onset is on starts a new note even if the pitch sounded one step
            earlier (an onset on a silent cell is ignored).
        qpm, time_signature
            Tempo and meter of the result.
        threshold
            For non-boolean rolls.

        Returns
        -------
        Tune
            ``n_tracks`` tracks (empty ones included); ``encode(decode(roll),
            n_steps=len(roll))`` equals a boolean ``roll`` exactly (and so does
            ``encode(decode(roll))`` when the last step sounds); likewise with
            ``onsets=True`` for a roll with onset channels whose onsets all sound and
            include the first step of every run.

        Raises
        ------
        ValueError
            If the roll's shape does not fit this encoding.
        """
        owner = type(self).__name__ + ".decode"
        check_number(owner, "qpm", qpm)
        check_number(owner, "threshold", threshold, positive=False)
        self.steps_per_bar(time_signature)
        roll = np.asarray(roll)
        if roll.ndim == _BARRED_ROLL_DIMS:
            roll = roll.reshape(-1, *roll.shape[2:])
        channels = (self.n_tracks, 2 * self.n_tracks)
        if roll.ndim != _ROLL_DIMS or roll.shape[1] != self.n_pitches or roll.shape[2] not in channels:
            raise ValueError(
                f"roll must have shape (steps, {self.n_pitches}, {self.n_tracks}) or "
                f"(bars, steps_per_bar, {self.n_pitches}, {self.n_tracks}) ({2 * self.n_tracks} channels "
                f"with onsets), got {roll.shape}"
            )
        cells = roll if roll.dtype == bool else roll > threshold
        active = np.transpose(cells[..., : self.n_tracks], (2, 1, 0))  # (track, pitch, step)
        before = np.pad(active, ((0, 0), (0, 0), (1, 0)))[..., :-1]
        start = active & ~before
        if roll.shape[2] == 2 * self.n_tracks:
            start |= active & np.transpose(cells[..., self.n_tracks :], (2, 1, 0))
        # a note ends after step t when t sounds and t + 1 is silent or starts a new note
        after_active = np.pad(active, ((0, 0), (0, 0), (0, 1)))[..., 1:]
        after_start = np.pad(start, ((0, 0), (0, 0), (0, 1)))[..., 1:]
        stop = active & (~after_active | after_start)
        k_on, p_on, t_on = np.nonzero(start)
        _, _, t_last = np.nonzero(stop)  # same (track, pitch) order, so pairs line up
        t_off = t_last + 1
        spq = self.steps_per_quarter
        tracks = []
        for index, name in enumerate(track_names(self.n_tracks)):
            mine = k_on == index
            start, length = t_on[mine] / spq, (t_off[mine] - t_on[mine]) / spq
            notes = make_notes(start, length, p_on[mine] + self.lowest_pitch, _DEFAULT_VELOCITY)
            tracks.append(Track(notes=notes, name=name, program=0))
        return Tune(
            tracks=tuple(tracks),
            time_signatures=(TimeSignature(0.0, *time_signature),),
            tempos=(Tempo(0.0, float(qpm)),),
        )

    # ------------------------------------------------------------------ phrases

    def bars(
        self,
        tune: Tune,
        *,
        bars_per_sample: int = 4,
        hop_bars: int = 1,
        meter: tuple[int, int] = (4, 4),
        onsets: bool = False,
        with_starts: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Phrases of consecutive whole bars in ``meter``, cut on the tune's bar lines.

        Bars are laid from 0 by the tune's meter map (a meter change inside a bar
        takes effect at the next bar line); only runs of consecutive bars in exactly
        ``meter`` are used, with a phrase starting every ``hop_bars`` bars. ``onsets``
        appends the onset channels (see :meth:`encode`).

        Returns
        -------
        numpy.ndarray or tuple
            ``bool``, shape ``(n_samples, bars_per_sample, steps_per_bar, n_pitches,
            n_tracks)`` (``2 * n_tracks`` channels with ``onsets``); ``n_samples`` is 0
            when no phrase fits. With ``with_starts``, also each phrase's first bar as
            an ``int64`` index into the tune's bars (0: the phrase opens the tune).
        """
        owner = type(self).__name__ + ".bars"
        check_int(owner, "bars_per_sample", bars_per_sample, minimum=1)
        check_int(owner, "hop_bars", hop_bars, minimum=1)
        phrases, first_bars = self._phrases_and_first_bars(tune, bars_per_sample, hop_bars, meter, onsets)
        return (phrases, first_bars) if with_starts else phrases

    def _phrases_and_first_bars(self, tune: Tune, bars_per_sample: int, hop_bars: int, meter: tuple[int, int],
                                onsets: bool) -> tuple[np.ndarray, np.ndarray]:
        bar_steps = self.steps_per_bar(meter)
        channels = self.n_tracks * (2 if onsets else 1)
        empty = np.zeros((0, bars_per_sample, bar_steps, self.n_pitches, channels), dtype=bool)
        none = np.zeros(0, dtype=np.int64)
        signatures = signatures_or_default(tune)
        starts, which = bar_lines(
            [s.time for s in signatures], [s.bar_length for s in signatures], tune.end
        )
        matches = np.asarray([(s.numerator, s.denominator) == tuple(meter) for s in signatures], dtype=bool)
        selected = np.flatnonzero(matches[which]) if len(which) else np.zeros(0, dtype=np.int64)
        if len(selected) < bars_per_sample:
            return empty, none
        # runs of consecutive bar indices; phrases start every hop_bars inside a run
        breaks = np.flatnonzero(np.diff(selected) != 1) + 1
        run_starts = np.concatenate([[0], breaks])
        run_ends = np.concatenate([breaks, [len(selected)]])
        firsts = [
            np.arange(a, b - bars_per_sample + 1, hop_bars)
            for a, b in zip(run_starts.tolist(), run_ends.tolist())
        ]
        first = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
        if not len(first):
            return empty, none
        bar_start = to_steps(starts[selected], self.steps_per_quarter)
        roll = self.encode(tune, n_steps=int(bar_start.max()) + bar_steps, onsets=onsets)
        per_bar = roll[bar_start[:, None] + np.arange(bar_steps)]  # (bars, steps, pitches, tracks)
        return per_bar[first[:, None] + np.arange(bars_per_sample)], selected[first].astype(np.int64)
