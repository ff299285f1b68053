"""Named music corpora: the registry, checksummed downloads, safe archive extraction, the
parse cache and the loader with its skip report.

    import musiclib as ml
    corpus = ml.datasets.load("folk")
    print(corpus.report())
"""

from musiclib._lazy import attach

_SUBMODULES = ("registry", "checksums", "archives", "fetch", "cache", "corpus", "loading", "polyphonic")

_EXPORTS = {
    "DatasetError": "registry",
    "DatasetInfo": "registry",
    "REGISTRY": "registry",
    "DEFAULT_DATASET": "registry",
    "DATA_ENV_VAR": "registry",
    "RECORD_NAME": "registry",
    "FROM_REGISTRY": "registry",
    "list_datasets": "registry",
    "info": "registry",
    "data_home": "registry",
    "content_checksum": "checksums",
    "safe_extract": "archives",
    "download": "fetch",
    "CacheRebuiltWarning": "cache",
    "PARSED_DIR": "cache",
    "corpus_fingerprint": "cache",
    "Corpus": "corpus",
    "load": "loading",
    "PolyphonicInfo": "polyphonic",
    "PianoRollSet": "polyphonic",
    "POLYPHONIC": "polyphonic",
    "polyphonic_names": "polyphonic",
    "polyphonic_info": "polyphonic",
    "load_polyphonic": "polyphonic",
    "read_polyphonic_file": "polyphonic",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
