"""Audio: rendering tunes with a SoundFont synthesizer (fallback: additive synthesis) and the
librosa features of rendered music, per piece and per set.

    import musiclib as ml
    rendered = ml.audio.render(tune)
    picture = ml.audio.log_mel(ml.audio.excerpt(rendered.audio, sample_rate=rendered.sample_rate))
"""

from musiclib._lazy import attach

_SUBMODULES = ("synthesis", "analysis", "sets")

_EXPORTS = {
    "DEFAULT_SAMPLE_RATE": "synthesis",
    "MAX_RENDER_SECONDS": "synthesis",
    "Rendered": "synthesis",
    "FluidSynthRenderer": "synthesis",
    "AdditiveRenderer": "synthesis",
    "BACKENDS": "synthesis",
    "check_backend": "synthesis",
    "get_renderer": "synthesis",
    "render": "synthesis",
    "write_wav": "synthesis",
    "default_soundfont": "synthesis",
    "fluidsynth_available": "synthesis",
    "SpectrogramConfig": "analysis",
    "SCALAR_FEATURES": "analysis",
    "CHROMA_KINDS": "analysis",
    "PITCH_CLASSES": "analysis",
    "excerpt": "analysis",
    "log_mel": "analysis",
    "zero_crossing_rate": "analysis",
    "chroma": "analysis",
    "seed_features": "analysis",
    "spectral_centroid": "analysis",
    "onset_rate": "analysis",
    "rms": "analysis",
    "features": "analysis",
    "SetFeatures": "sets",
    "set_features": "sets",
    "compare_sets": "sets",
    "format_comparison": "sets",
    "render_set": "sets",
    "analyze_sets": "sets",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
