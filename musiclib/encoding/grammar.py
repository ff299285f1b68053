"""The grammar of the event encoding, as a state machine that says which tokens may come next.

:meth:`EventEncoding.decode <musiclib.encoding.events.EventEncoding.decode>` repairs
what is ill-formed by dropping tokens. A sampler that asks :class:`EventGrammar`
first never needs the repair: before each token it masks every token that cannot
follow, so a sampled sequence is one :meth:`~musiclib.encoding.events.EventEncoding.encode`
could have written, and decoding it drops nothing.

The rules are exactly those of the encoder (see :mod:`musiclib.encoding.events`)::

    BOS Meter Bar ( [Meter] ( Pos Track Pitch Dur (Pitch Dur)* (Track Pitch Dur (Pitch Dur)*)* )* Bar )* ... EOS

* ``Meter`` right after ``BOS`` (any meter) and right after a later ``Bar`` (only a
  meter that differs from the bar before's);
* ``Pos_k`` inside the bar (``k`` below the bar length of the current meter) and after
  the previous ``Pos`` of the bar;
* ``Track_i`` after every ``Pos``, then again only for a higher track at that position;
* ``Pitch`` after a ``Track`` or after a note of the same track and position, higher
  than that note (the encoder sorts by pitch and merges duplicates);
* ``Dur`` after every ``Pitch`` and only there;
* ``EOS`` only after a complete note (the encoder ends after the bar that holds the
  last onset).

**Monophonic tracks.** A track that plays one note at a time in the training data
(:func:`track_overlap` measures it) can be declared monophonic: a new note on it may
then start only when its previous note has ended, and it gets one pitch per position.
``Track_i`` (and a ``Pos`` at which no track could play) is masked until then, so such
a track never sounds two notes at once.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from musiclib.encoding.events import (
    _K_BAR,
    _K_BOS,
    _K_DUR,
    _K_EOS,
    _K_METER,
    _K_PITCH,
    _K_POS,
    _K_TRACK,
    _UNKNOWN,
    EventEncoding,
)

__all__ = ["EventGrammar", "GrammarState", "track_overlap", "monophonic_tracks", "MONOPHONIC_TOLERANCE"]

MONOPHONIC_TOLERANCE = 0.05
"""A track counts as monophonic when at most this share of its training notes start while
another note of the same track still sounds. Measured on the training splits: melodies
0.2% (folk corpus) to 0.9% (Nottingham), 1.6% on the 48 tunes of quick mode (ornaments and
durations rounded to the encoding's ladder); chord tracks 39% to 69%."""

# phases of the state machine: what the previous token completed
_START, _AFTER_BOS, _AFTER_OPENING_METER, _AFTER_BAR, _AFTER_BAR_METER, _AFTER_POS, _AFTER_TRACK, \
    _AFTER_PITCH, _AFTER_DUR, _ENDED = range(10)


class EventGrammar:
    """Which event tokens may follow a prefix, for one :class:`EventEncoding` and vocabulary.

    Parameters
    ----------
    encoding
        The event encoding the tokens come from.
    vocab
        The vocabulary the model predicts (its ids are what :meth:`GrammarState.allowed`
        masks); tokens it holds that the encoding does not know are never allowed.
    monophonic
        Track indices to keep monophonic (see the module notes).

    Examples
    --------
    >>> from musiclib.encoding import EventEncoding
    >>> encoding = EventEncoding()
    >>> vocab = encoding.vocabulary()
    >>> state = EventGrammar(encoding, vocab).start()
    >>> state.feed(vocab.id("BOS"))
    >>> [vocab.decode([i])[0] for i in np.flatnonzero(state.allowed())][:3]
    ['Meter_1/1', 'Meter_2/1', 'Meter_3/1']
    """

    def __init__(self, encoding: EventEncoding, vocab, *, monophonic: Iterable[int] = ()) -> None:
        if not isinstance(encoding, EventEncoding):
            raise TypeError(f"EventGrammar needs an EventEncoding, got {type(encoding).__name__}")
        self.encoding = encoding
        self.monophonic = tuple(sorted({int(t) for t in monophonic}))
        bad = [t for t in self.monophonic if not 0 <= t < encoding.n_tracks]
        if bad:
            raise ValueError(f"monophonic tracks must be in 0..{encoding.n_tracks - 1}, got {bad}")
        parse = encoding._tables.parse
        size = len(vocab)
        self.size = size
        self.kind = np.full(size, _UNKNOWN[0], dtype=np.int64)
        self.value = np.zeros(size, dtype=np.int64)
        self._meter_of: dict[int, tuple[int, int]] = {}
        for index, token in enumerate(vocab.decode(list(range(size)))):
            kind, value = parse.get(token, _UNKNOWN)
            self.kind[index] = kind
            if kind == _K_METER:
                self._meter_of[index] = value  # type: ignore[assignment]
            elif kind in (_K_POS, _K_TRACK, _K_PITCH, _K_DUR):
                self.value[index] = value  # type: ignore[assignment]
        self.is_meter = self.kind == _K_METER
        self.is_pos = self.kind == _K_POS
        self.is_track = self.kind == _K_TRACK
        self.is_pitch = self.kind == _K_PITCH
        self.is_dur = self.kind == _K_DUR
        self.is_bar = self.kind == _K_BAR
        self.is_eos = self.kind == _K_EOS
        self.is_mono_track = np.zeros(encoding.n_tracks, dtype=bool)
        self.is_mono_track[list(self.monophonic)] = True
        self.meter_bar_steps = {i: encoding._bar_steps(m) for i, m in self._meter_of.items()}
        self.bar_steps_of = np.zeros(size, dtype=np.int64)  # bar length of each Meter id, 0 elsewhere
        for index, steps in self.meter_bar_steps.items():
            self.bar_steps_of[index] = steps
        # after a later Bar: every meter but the one in force
        self.meter_change = {}
        for index, meter in self._meter_of.items():
            mask = self.is_meter.copy()
            mask[index] = False
            self.meter_change[meter] = mask

    def start(self) -> GrammarState:
        """The state before the first token (which must be ``BOS``)."""
        return GrammarState(self)


class GrammarState:
    """Where a token sequence stands in the :class:`EventGrammar`; fed one id at a time.

    Attributes
    ----------
    repaired
        Tokens fed that the grammar did not allow (a hand-written primer, say): they
        leave the state unchanged, as the decoder drops them.
    """

    def __init__(self, grammar: EventGrammar) -> None:
        self.grammar = grammar
        self.phase = _START
        self.meter: tuple[int, int] | None = None
        self.bar_steps = 0
        self.bar_start: int | None = None
        self.position = -1
        self.track = -1
        self.pitch = -1
        self.sounding_until = np.zeros(grammar.encoding.n_tracks, dtype=np.int64)
        self.repaired = 0

    # ----------------------------------------------------------------- what may follow

    def _free_tracks(self, onset: int) -> np.ndarray:
        """Tracks that may start a note at absolute step ``onset``."""
        g = self.grammar
        return ~g.is_mono_track | (self.sounding_until <= onset)

    def _positions(self, after: int) -> np.ndarray:
        """``Pos`` ids after ``after`` inside the bar at which some track is free."""
        g = self.grammar
        steps = g.value
        ok = g.is_pos & (steps > after) & (steps < self.bar_steps)
        if g.is_mono_track.all():
            ok &= (self.bar_start + steps) >= self.sounding_until.min()
        return ok

    def _tracks(self, above: int) -> np.ndarray:
        g = self.grammar
        onset = self.bar_start + self.position
        free = self._free_tracks(onset)
        values = np.clip(g.value, 0, len(free) - 1)
        return g.is_track & (g.value > above) & (g.value < len(free)) & free[values]

    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary: the ids that may come next."""
        g = self.grammar
        phase = self.phase
        if phase == _START:
            return g.kind == _K_BOS
        if phase == _AFTER_BOS:
            return g.is_meter.copy()
        if phase == _AFTER_OPENING_METER:
            return g.is_bar.copy()
        if phase == _AFTER_BAR:
            after = self._positions(-1) | g.is_bar
            if self.bar_start == 0:  # the first bar has the opening meter
                return after
            return g.meter_change[self.meter] | after
        if phase == _AFTER_BAR_METER:
            return self._positions(-1) | g.is_bar
        if phase == _AFTER_POS:
            return self._tracks(-1)
        if phase == _AFTER_TRACK:
            return g.is_pitch.copy()
        if phase == _AFTER_PITCH:
            return g.is_dur.copy()
        if phase == _AFTER_DUR:
            more_pitches = g.is_pitch & (g.value > self.pitch)
            if g.is_mono_track[self.track]:
                more_pitches[:] = False
            return more_pitches | self._tracks(self.track) | self._positions(self.position) | g.is_bar | g.is_eos
        return np.zeros(g.size, dtype=bool)  # after EOS nothing follows

    @property
    def awaiting_pitch(self) -> bool:
        """Whether the next token is the first ``Pitch`` of a track at a position (:attr:`track` says which)."""
        return self.phase == _AFTER_TRACK

    @property
    def complete(self) -> bool:
        """Whether the sequence could end here without a dangling ``Pitch``."""
        return self.phase != _AFTER_PITCH

    # ----------------------------------------------------------------- transitions

    def feed(self, token_id: int, *, check: bool = True) -> None:
        """Advance by one token id.

        With ``check`` (the default) a disallowed id counts in :attr:`repaired` and
        changes nothing; a sampler that drew the id from :meth:`allowed` passes
        ``check=False`` to skip the test.
        """
        token_id = int(token_id)
        g = self.grammar
        if check and (not 0 <= token_id < g.size or not self.allowed()[token_id]):
            self.repaired += 1
            return
        kind, value = int(g.kind[token_id]), int(g.value[token_id])
        if kind == _K_BOS:
            self.phase = _AFTER_BOS
        elif kind == _K_METER:
            self.meter = g._meter_of[token_id]
            self.bar_steps = g.meter_bar_steps[token_id]
            self.phase = _AFTER_OPENING_METER if self.phase == _AFTER_BOS else _AFTER_BAR_METER
        elif kind == _K_BAR:
            # a Meter right after a Bar sets the length of that bar, as in the decoder
            self.bar_start = 0 if self.bar_start is None else self.bar_start + self.bar_steps
            self.position, self.track, self.pitch = -1, -1, -1
            self.phase = _AFTER_BAR
        elif kind == _K_POS:
            self.position, self.track, self.pitch = value, -1, -1
            self.phase = _AFTER_POS
        elif kind == _K_TRACK:
            self.track, self.pitch = value, -1
            self.phase = _AFTER_TRACK
        elif kind == _K_PITCH:
            self.pitch = value
            self.phase = _AFTER_PITCH
        elif kind == _K_DUR:
            self._note(value)
            self.phase = _AFTER_DUR
        elif kind == _K_EOS:
            self.phase = _ENDED

    def _note(self, length: int) -> None:
        end = self.bar_start + self.position + length
        self.sounding_until[self.track] = max(self.sounding_until[self.track], end)


def track_overlap(encoding: EventEncoding, vocab, sequences: Iterable[Sequence[int] | np.ndarray]) -> dict[str, list]:
    """Per track of the encoding: notes, and notes that start while the track still sounds.

    Parameters
    ----------
    encoding, vocab
        The event encoding and the vocabulary of the ids.
    sequences
        Well-formed token id sequences (what the encoder writes), e.g. the training split.

    Returns
    -------
    dict
        ``notes`` and ``overlapping`` (lists, one count per track) and ``share``
        (overlapping / notes, 0 for a track without notes). A note overlaps when it
        starts before an earlier note of its track has ended, a second pitch at the
        same onset included.
    """
    grammar = EventGrammar(encoding, vocab)
    n_tracks = encoding.n_tracks
    onsets, ends, tracks = [], [], []
    offset = 0
    for sequence in sequences:
        onset, length, track = _notes_of(grammar, np.asarray(sequence, dtype=np.int64).reshape(-1))
        onsets.append(onset + offset)
        ends.append(onset + length + offset)
        tracks.append(track)
        offset += int((onset + length).max(initial=0)) + 1
    onset, end, track = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (onsets, ends, tracks))
    notes = np.bincount(track, minlength=n_tracks)
    overlapping = np.zeros(n_tracks, dtype=np.int64)
    for index in range(n_tracks):
        mine = track == index  # token order: onsets never decrease within a track
        started, finished = onset[mine], end[mine]
        sounding = np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(finished)[:-1]])
        overlapping[index] = int((started < sounding).sum())
    share = [float(o / n) if n else 0.0 for o, n in zip(overlapping.tolist(), notes.tolist())]
    return {"notes": notes.tolist(), "overlapping": overlapping.tolist(), "share": share}


def _notes_of(grammar: EventGrammar, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(onset, length, track) in grid steps of every note of one well-formed id sequence."""
    ids = ids[(ids >= 0) & (ids < grammar.size)]
    kind, value = grammar.kind[ids], grammar.value[ids]
    index = np.arange(ids.size)
    bar = np.cumsum(kind == _K_BAR) - 1
    last_meter = np.maximum.accumulate(np.where(kind == _K_METER, index, -1))
    bar_steps = np.where(last_meter >= 0, grammar.bar_steps_of[ids[np.maximum(last_meter, 0)]], 0)
    n_bars = int(bar.max(initial=-1)) + 1
    length_of_bar = np.zeros(n_bars, dtype=np.int64)
    inside = bar >= 0
    length_of_bar[bar[inside]] = bar_steps[inside]  # the last token of each bar wins: its meter
    bar_start = np.concatenate([[0], np.cumsum(length_of_bar)[:-1]]) if n_bars else np.zeros(0, np.int64)
    last_pos = np.maximum.accumulate(np.where(kind == _K_POS, index, -1))
    last_track = np.maximum.accumulate(np.where(kind == _K_TRACK, index, -1))
    dur = np.flatnonzero((kind == _K_DUR) & (last_pos >= 0) & inside)
    onset = bar_start[bar[dur]] + value[last_pos[dur]]
    track = np.where(last_track[dur] > last_pos[dur], value[np.maximum(last_track[dur], 0)], 0)
    return onset.astype(np.int64), value[dur].astype(np.int64), track.astype(np.int64)


def monophonic_tracks(overlap: dict[str, list], *, tolerance: float = MONOPHONIC_TOLERANCE) -> list[int]:
    """Tracks with notes whose overlap share (:func:`track_overlap`) is at most ``tolerance``."""
    return [i for i, (n, share) in enumerate(zip(overlap["notes"], overlap["share"])) if n and share <= tolerance]
