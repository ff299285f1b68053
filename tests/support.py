"""Shared test helpers (import as `from support import ...`; tests/ is on sys.path under pytest)."""

from __future__ import annotations

# ---------------------------------------------------------------------------
# datasets / split helpers
import os
import struct
from pathlib import Path

import numpy as np

from musiclib.io import write_midi
from musiclib.tune import Track, Tune, make_notes

SHARED_DATA = Path(
    os.environ.get("MUSICLIB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
"""The reference data folder (``../shared/data`` beside the repository, or ``$MUSICLIB_SHARED_DATA``)."""


def tiny_tune(seed: int = 0, *, n_notes: int = 8, drums: bool = False, title: str = "tiny") -> Tune:
    """A small one-track tune whose notes depend on ``seed`` (different seeds, different notes)."""
    rng = np.random.default_rng(seed)
    pitches = 60 + rng.integers(0, 12, size=n_notes)
    notes = make_notes(np.arange(n_notes) * 0.5, np.full(n_notes, 0.5), pitches)
    track = Track(notes, name="drums" if drums else "melody", program=0, is_drum=drums)
    return Tune(tracks=(track,), title=title)


def write_tiny_midi(path: str | os.PathLike, seed: int = 0, **kwargs) -> Path:
    """Write :func:`tiny_tune` as a MIDI file at ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_midi(tiny_tune(seed, **kwargs), path)


def assert_tunes_equal(a: list[Tune], b: list[Tune]) -> None:
    """Tunes equal in notes (exactly) and metadata."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.title, x.source) == (y.title, y.source)
        assert x.time_signatures == y.time_signatures
        assert x.key_signatures == y.key_signatures
        assert x.tempos == y.tempos
        assert [(t.name, t.program, t.is_drum) for t in x.tracks] == [
            (t.name, t.program, t.is_drum) for t in y.tracks
        ]
        for s, t in zip(x.tracks, y.tracks):
            np.testing.assert_array_equal(s.notes, t.notes)


# ---------------------------------------------------------------------------
# MIDI bytes by hand (for malformed files that no writer would make)


def varlen(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit set on all but the last)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_chunk(tag: bytes, body: bytes, *, length: int | None = None) -> bytes:
    """A chunk: 4-byte tag, big-endian length (``length`` overrides the true one), body."""
    return tag + struct.pack(">I", len(body) if length is None else length) + body


def midi_header(fmt: int = 1, n_tracks: int = 1, division: int = 480) -> bytes:
    """The ``MThd`` chunk: format, number of tracks, time division (ticks per quarter or SMPTE)."""
    return midi_chunk(b"MThd", struct.pack(">HHH", fmt, n_tracks, division & 0xFFFF))


def midi_track(events=(), *, end_of_track: bool = True, length: int | None = None) -> bytes:
    """An ``MTrk`` chunk from ``(delta ticks, event bytes)`` pairs."""
    body = b"".join(varlen(delta) + event for delta, event in events)
    if end_of_track:
        body += b"\x00\xff\x2f\x00"
    return midi_chunk(b"MTrk", body, length=length)


def note_on(pitch: int, velocity: int = 80, channel: int = 0) -> bytes:
    return bytes([0x90 | channel, pitch, velocity])


def note_off(pitch: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, pitch, 0])


def tempo_event(microseconds_per_quarter: int) -> bytes:
    return b"\xff\x51\x03" + microseconds_per_quarter.to_bytes(3, "big")


def track_name_event(name: str) -> bytes:
    data = name.encode("latin-1")
    return b"\xff\x03" + varlen(len(data)) + data


def scale_events(n_notes: int, *, ticks: int = 240, channel: int = 0, first_delta: int = 0):
    """``n_notes`` one-after-another notes climbing an octave, as track events."""
    events = []
    for i in range(n_notes):
        pitch = 60 + i % 12
        delta = first_delta if i == 0 else 0
        events += [(delta, note_on(pitch, channel=channel)), (ticks, note_off(pitch, channel))]
    return events


def midi_file(*tracks: bytes, fmt: int = 1, division: int = 480) -> bytes:
    """Header plus track chunks; the header counts the tracks given."""
    return midi_header(fmt, len(tracks), division) + b"".join(tracks)


def _another_off_follows(messages, index: int) -> bool:
    """Whether another note-off of the same key follows before that key's next note-on."""
    channel, note = messages[index][1].channel, messages[index][1].note
    for _, later in messages[index + 1 :]:
        if later.type in ("note_on", "note_off") and (later.channel, later.note) == (channel, note):
            return not (later.type == "note_on" and later.velocity > 0)
    return False


def mido_reference_notes(data: bytes) -> list[tuple[int, float, float]]:
    """``(pitch, start, end)`` in quarter notes of every note of MIDI ``data``, sorted, read by mido.

    An independent reader of the pairing rule :func:`musiclib.io.read_midi` documents:
    per track, channel and key, a note-off (or note-on of velocity 0) ends the sounding
    note; a note-on of a sounding key ends it and starts a new one; a note-off followed
    by another note-off of its key (before the key's next note-on) is ignored when a
    re-strike already ended a note; a note never switched off ends at its track's end;
    stray note-offs are ignored and zero-length notes dropped.
    """
    import io as stdlib_io

    import mido

    midi = mido.MidiFile(file=stdlib_io.BytesIO(data))
    notes = []
    for track in midi.tracks:
        messages, now = [], 0
        for message in track:
            now += message.time
            messages.append((now, message))
        end = now
        sounding: dict[tuple[int, int], int] = {}
        owed: dict[tuple[int, int], int] = {}
        for index, (time, message) in enumerate(messages):
            if message.type not in ("note_on", "note_off"):
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                if key in sounding:
                    notes.append((message.note, sounding[key], time))
                    owed[key] = owed.get(key, 0) + 1
                sounding[key] = time
            elif owed.get(key) and _another_off_follows(messages, index):
                owed[key] -= 1
            elif key in sounding:
                notes.append((message.note, sounding.pop(key), time))
                owed.pop(key, None)
        notes += [(key[1], start, end) for key, start in sounding.items()]
    tpq = midi.ticks_per_beat
    return sorted((pitch, round(start / tpq, 5), round(stop / tpq, 5)) for pitch, start, stop in notes if stop > start)


def musiclib_notes(tune) -> list[tuple[int, float, float]]:
    """``(pitch, start, end)`` of every note of a Tune, sorted, rounded to 1e-5 quarter (as
    :func:`mido_reference_notes` gives them; musiclib stores times as 32-bit floats)."""
    return sorted(
        (int(n["pitch"]), round(float(n["start"]), 5), round(float(n["start"] + n["duration"]), 5))
        for t in tune.tracks
        for n in t.notes
    )


# ---------------------------------------------------------------------------
# hostile .keras files (for the untrusted-bundle tests of both model families)

EVIL_MODULE = "musiclib_test_evil_layers"
"""A module name no Keras loader may import: the file that defines it leaves a marker when imported."""


def lambda_model_file(source: Path, target: Path, marker: Path) -> Path:
    """Write at ``target`` the model of ``source`` followed by a Lambda whose code creates ``marker``.

    The Lambda is a real Python lambda (serialised as bytecode); building the model runs it once,
    so ``marker`` is removed again before returning. Loading ``target`` with ``safe_mode=False``
    would run it (and create ``marker``): a loader that creates no marker ran none of its code.
    """
    import keras

    model = keras.saving.load_model(source, safe_mode=True, compile=False)
    touch = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # no closure: the path is code
    hostile = keras.Model(model.inputs, keras.layers.Lambda(touch, name="touch")(model.outputs[0]))
    hostile.save(target)
    marker.unlink(missing_ok=True)
    return target


def custom_object_model_file(source: Path, target: Path, module_dir: Path, marker: Path) -> Path:
    """Write at ``target`` a copy of ``source`` whose last layer names a custom class ``Sneaky``.

    The class is said to come from :data:`EVIL_MODULE`, written into ``module_dir``; importing
    that module creates ``marker``, so a loader that imports it leaves the marker behind.
    """
    import json
    import zipfile

    (module_dir / f"{EVIL_MODULE}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\nclass Sneaky:\n    pass\n"
    )
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    layer = config["config"]["layers"][-1]
    layer.update(module=EVIL_MODULE, class_name="Sneaky", registered_name="evil>Sneaky")
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def link_outside(bundle: Path, name: str, elsewhere: Path) -> Path:
    """Move ``bundle/name`` to ``elsewhere`` and leave a symbolic link to it in its place."""
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    (bundle / name).replace(elsewhere)
    (bundle / name).symlink_to(elsewhere)
    return elsewhere


def assert_steps_match_full_model(parts, tokens: np.ndarray) -> None:
    """Every LSTM step (the NumPy one and the compiled Keras one), fed ``tokens`` ``[batch, time]``
    one at a time from fresh states, gives the full model's logits at every position."""
    from musiclib.lm.lstm import build_step_model
    from musiclib.lm.sampling import _CompiledStep, _NumpyStep

    tokens = np.asarray(tokens, dtype=np.int32)
    full = np.asarray(parts.model.predict_on_batch(tokens))
    keras_step = build_step_model(parts.model, parts.config)
    for step in (_NumpyStep(parts.model, parts.config), _CompiledStep(keras_step, parts.config)):
        states = step.initial_states(tokens.shape[0])
        for t in range(tokens.shape[1]):
            logits, states = step(tokens[:, t : t + 1], states)
            np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-4)


def assert_bundle_samples_like_the_model(parts, history, folder: Path, *, n_bars: int) -> None:
    """A bundle saved from ``parts`` loads in safe mode with the same config and samples what
    the model samples, alone and in a batch (each row keeps its own input states)."""
    from musiclib._files import write_json
    from musiclib.lm.bundle import load_bundle, save_bundle
    from musiclib.lm.sampling import sample_many, sample_tokens

    split = folder / "split.json"
    write_json(split, {"train": ["a"], "valid": ["b"], "test": ["c"]})
    path = save_bundle(folder / "bundle", model=parts.model, config=parts.config, vocab=parts.vocab,
                       encoding_config=parts.encoding, data_info={"data_hash": "0123abcd", "dataset": "toy"},
                       split_path=split, metrics={}, history=history)
    bundle = load_bundle(path)
    assert bundle.config == parts.config
    assert sample_tokens(bundle, n_bars=n_bars, seed=3) == sample_tokens(parts, n_bars=n_bars, seed=3)
    batch = sample_many(bundle, seeds=[3, 4], n_bars=n_bars)
    assert batch[0] == sample_tokens(bundle, n_bars=n_bars, seed=3)
    assert batch[1] == sample_tokens(bundle, n_bars=n_bars, seed=4)
