"""The data layer: registry, safe downloads, folder corpora, the parse cache."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io as bytes_io
import os
import tarfile
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import SHARED_DATA, assert_tunes_equal, tiny_tune, write_tiny_midi

import musiclib.io
from musiclib import datasets
from musiclib.datasets.cache import CacheRebuiltWarning
from musiclib.datasets.registry import DatasetError, DatasetInfo
from musiclib.io import ReadLimits, midi_bytes

GOOD_ABC = "X:1\nT:Good tune\nM:4/4\nL:1/8\nK:G\nGABc d2e2|d2B2 G4|]\n"
BROKEN_ABC = "X:2\nT:Broken tune\nK:H\n(((((\n"
TINY_NAME = "tiny"
FOLK_WORKERS = max(1, min(4, os.cpu_count() or 1))
N_TINY_FILES = 3


# --------------------------------------------------------------------------- helpers


def _listing(folder: Path) -> list[str]:
    """Every path under ``folder`` (relative), to check that nothing was left behind."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def _tiny_files() -> dict[str, bytes]:
    """A small dataset: MIDI/ with three tunes plus a licence, as archive members."""
    files = {f"MIDI/tune{i}.mid": midi_bytes(tiny_tune(i)) for i in range(N_TINY_FILES)}
    files["LICENSE.md"] = b"public domain\n"
    return files


def _content_hash(files: dict[str, bytes], subdir: str = "MIDI") -> str:
    digest = hashlib.sha256()
    for rel in sorted(r for r in files if r.startswith(f"{subdir}/")):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def _make_zip(path: Path, files: dict[str, bytes], *, top: str = "tiny-dataset-abc123/") -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(top + name, data)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _register(monkeypatch, url: str, **changes) -> DatasetInfo:
    entry = DatasetInfo(
        name=TINY_NAME,
        description="test dataset",
        kind="download",
        url=url,
        archive_sha256=None,
        content_sha256=None,
        subdir="MIDI",
        suffixes=(".mid", ".midi"),
        license="test",
        citation="test",
        merge_tracks=False,
    )
    entry = DatasetInfo(**{**entry.__dict__, **changes})
    monkeypatch.setitem(datasets.REGISTRY, TINY_NAME, entry)
    return entry


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def served(tmp_path):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def private_data_home(tmp_path, monkeypatch):
    """Whatever a test forgets to pass as cache_dir lands in its tmp folder, not in data/."""
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path / "data-home"))


@pytest.fixture
def cache(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_three_datasets():
    assert datasets.list_datasets() == ["adl-piano", "folk", "nottingham"]
    notts = datasets.info("nottingham")
    assert notts.subdir == "MIDI" and notts.kind == "download" and not notts.merge_tracks
    assert notts.content_sha256 == "1454eb9230f3ad6717fbd8e6ba38c06d9e62f5118fd203de2ff9ac8269a72937"
    assert datasets.info("adl-piano").merge_tracks and datasets.info("adl-piano").archive_sha256 is None
    assert datasets.info("folk").kind == "builtin"


def test_unknown_name_lists_known_names(cache):
    for call in (lambda: datasets.info("nope"), lambda: datasets.load("nope", cache_dir=cache)):
        with pytest.raises(DatasetError, match="unknown dataset 'nope'") as error:
            call()
        for name in datasets.list_datasets():
            assert name in str(error.value)


def test_absent_download_dataset_says_how_to_get_it(cache):
    with pytest.raises(DatasetError) as error:
        datasets.load("nottingham", cache_dir=cache)
    message = str(error.value)
    assert "load('nottingham', download=True)" in message and "path=" in message
    assert _listing(cache) == []


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path / "env"))
    assert datasets.data_home(tmp_path / "given") == tmp_path / "given"
    assert datasets.data_home() == tmp_path / "env"
    monkeypatch.delenv(datasets.DATA_ENV_VAR)
    checkout = Path(datasets.__file__).resolve().parents[1] / "data"
    expected = checkout if (checkout / "README.md").is_file() else Path("~/.cache/musiclib").expanduser()
    assert datasets.data_home() == expected


@pytest.fixture(scope="module")
def folk(tmp_path_factory):
    """The built-in corpus, parsed once for the module (about 10 s) into a private cache."""
    cache_dir = tmp_path_factory.mktemp("folk-cache")
    return cache_dir, datasets.load("folk", cache_dir=cache_dir, workers=FOLK_WORKERS)


def test_folk_loads_offline(folk):
    _, corpus = folk
    assert len(corpus) > 3000
    assert corpus.name == "folk" and corpus.files > 1000
    folders = datasets.info("folk").folders
    assert all(t.source.split("/")[0] in folders and ".abc#" in t.source for t in corpus)  # relative
    assert corpus.report().startswith(f"folk: {len(corpus):,} tunes from {corpus.files:,} files; ")
    summary = corpus.summary()
    assert summary["tunes"] == len(corpus) and summary["notes"] > 100_000
    assert len(corpus.by_source()) == len(corpus)


def test_folk_warm_load_uses_the_cache(folk, monkeypatch):
    cache_dir, cold = folk

    def no_parsing(*args, **kwargs):
        raise AssertionError("the parser must not run on a warm load")

    monkeypatch.setattr(musiclib.io, "read", no_parsing)
    warm = datasets.load("folk", cache_dir=cache_dir)
    assert warm.fingerprint == cold.fingerprint
    assert_tunes_equal(warm.tunes, cold.tunes)
    assert warm.summary() == cold.summary() and warm.skipped == cold.skipped


# --------------------------------------------------------------------------- downloads


def test_download_over_http_with_checksums(served, cache, monkeypatch):
    www, base = served
    files = _tiny_files()
    archive = _make_zip(www / "tiny.zip", files)
    url = f"{base}/tiny.zip"
    _register(monkeypatch, url, archive_sha256=_sha(archive), content_sha256=_content_hash(files))
    corpus = datasets.load(TINY_NAME, download=True, cache_dir=cache)
    assert [t.source for t in corpus] == [f"MIDI/tune{i}.mid" for i in range(N_TINY_FILES)]
    root = cache / TINY_NAME
    assert corpus.root == root and (root / "LICENSE.md").is_file()
    record = (root / "SHA256").read_text()
    assert _sha(archive) in record and _content_hash(files) in record
    assert sorted(p.name for p in cache.iterdir()) == ["parsed", TINY_NAME]  # no temporaries left
    assert datasets.download(TINY_NAME, cache_dir=cache) == root  # already there: no second fetch


def test_download_from_file_url(tmp_path, cache, monkeypatch):
    files = _tiny_files()
    archive = _make_zip(tmp_path / "tiny.zip", files)
    _register(monkeypatch, "https://invalid.example/never-used.zip", content_sha256=_content_hash(files))
    root = datasets.download(TINY_NAME, cache_dir=cache, url=archive.as_uri())
    assert _listing(root) == sorted({"MIDI", "SHA256", *files})


@pytest.mark.parametrize("which", ["archive", "content"])
def test_checksum_mismatch_leaves_nothing(served, cache, monkeypatch, which):
    www, base = served
    _make_zip(www / "tiny.zip", _tiny_files())
    _register(monkeypatch, f"{base}/tiny.zip", **{f"{which}_sha256": "0" * 64})
    with pytest.raises(DatasetError, match=f"{which} checksum mismatch") as error:
        datasets.download(TINY_NAME, cache_dir=cache)
    assert f"{base}/tiny.zip" in str(error.value)
    assert _listing(cache) == []


def test_checksum_override_beats_registry(served, cache, monkeypatch):
    www, base = served
    files = _tiny_files()
    _make_zip(www / "tiny.zip", files)
    _register(monkeypatch, f"{base}/tiny.zip", content_sha256="0" * 64)
    root = datasets.download(TINY_NAME, cache_dir=cache, content_sha256=_content_hash(files))
    assert (root / "MIDI" / "tune0.mid").is_file()


def test_http_404_leaves_nothing(served, cache, monkeypatch):
    _, base = served
    _register(monkeypatch, f"{base}/missing.zip", content_sha256="0" * 64)
    with pytest.raises(DatasetError, match="404") as error:
        datasets.download(TINY_NAME, cache_dir=cache)
    assert f"{base}/missing.zip" in str(error.value)
    assert _listing(cache) == []


def test_not_an_archive_is_refused(served, cache, monkeypatch):
    www, base = served
    (www / "page.zip").write_text("<html>rate limited</html>")
    _register(monkeypatch, f"{base}/page.zip", content_sha256="0" * 64)
    with pytest.raises(DatasetError, match="neither a zip nor a tar"):
        datasets.download(TINY_NAME, cache_dir=cache)
    assert _listing(cache) == []


ABSOLUTE_EVIL = "/tmp/musiclib-test-absolute-evil.mid"


@pytest.mark.parametrize("evil", ["../evil.mid", ABSOLUTE_EVIL, "MIDI/../../evil.mid"])
def test_zip_with_escaping_member_is_refused(served, cache, monkeypatch, tmp_path, evil):
    www, base = served
    files = {**_tiny_files(), evil: b"MThd evil"}
    _make_zip(www / "evil.zip", files, top="")
    _register(monkeypatch, f"{base}/evil.zip", content_sha256=_content_hash(_tiny_files()))
    with pytest.raises(DatasetError, match="unsafe member"):
        datasets.download(TINY_NAME, cache_dir=cache)
    assert _listing(cache) == []
    assert not (tmp_path / "evil.mid").exists() and not (tmp_path.parent / "evil.mid").exists()
    assert not Path(ABSOLUTE_EVIL).exists()


def _make_tar(path: Path, links: list[tuple[str, str, bytes]]) -> Path:
    """The tiny dataset under ``top/`` plus ``(member, link target, tar type)`` links."""
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in _tiny_files().items():
            member = tarfile.TarInfo(f"top/{name}")
            member.size = len(data)
            bundle.addfile(member, bytes_io.BytesIO(data))
        for name, link, link_type in links:
            member = tarfile.TarInfo(f"top/{name}")
            member.type, member.linkname = link_type, link
            bundle.addfile(member)
    return path


@pytest.mark.parametrize(
    "links",
    [
        [("MIDI/escape.mid", "../../outside.mid", tarfile.SYMTYPE)],
        [("MIDI/escape.mid", "/etc/passwd", tarfile.SYMTYPE)],
        [("escape", "..", tarfile.SYMTYPE)],  # inside before the top folder is stripped, outside after
        [("MIDI/escape.mid", "../outside.mid", tarfile.LNKTYPE)],
        # a chain: each link looks inside on paper, together they resolve outside
        [("a/b/up", "../..", tarfile.SYMTYPE), ("a/b/escape", "up/..", tarfile.SYMTYPE)],
    ],
)
def test_tar_with_escaping_link_is_refused(tmp_path, links):
    archive = _make_tar(tmp_path / "evil.tar.gz", links)
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="unsafe"):
        datasets.safe_extract(archive, target)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz"]


def test_tar_with_inner_link_extracts_and_strips_top(tmp_path):
    archive = _make_tar(tmp_path / "ok.tar.gz", [("MIDI/escape.mid", "tune0.mid", tarfile.SYMTYPE)])
    target = datasets.safe_extract(archive, tmp_path / "out")
    assert (target / "MIDI" / "tune1.mid").read_bytes() == _tiny_files()["MIDI/tune1.mid"]
    assert (target / "MIDI" / "escape.mid").is_symlink()
    assert (target / "MIDI" / "escape.mid").read_bytes() == _tiny_files()["MIDI/tune0.mid"]


def test_tar_symlink_download_is_refused(served, cache, monkeypatch):
    www, base = served
    _make_tar(www / "evil.tar.gz", [("MIDI/escape.mid", "../../../outside.mid", tarfile.SYMTYPE)])
    _register(monkeypatch, f"{base}/evil.tar.gz", content_sha256="0" * 64)
    with pytest.raises(DatasetError, match="unsafe"):
        datasets.download(TINY_NAME, cache_dir=cache)
    assert _listing(cache) == []


def test_unverified_download_needs_consent_and_records_checksum(served, cache, monkeypatch):
    www, base = served
    archive = _make_zip(www / "tiny.zip", _tiny_files())
    _register(monkeypatch, f"{base}/tiny.zip")
    with pytest.raises(DatasetError, match="allow_unverified=True"):
        datasets.download(TINY_NAME, cache_dir=cache)
    with pytest.raises(DatasetError, match="allow_unverified=True"):
        datasets.load(TINY_NAME, download=True, cache_dir=cache)
    assert _listing(cache) == []
    corpus = datasets.load(TINY_NAME, download=True, allow_unverified=True, cache_dir=cache)
    assert len(corpus) == N_TINY_FILES
    record = (cache / TINY_NAME / "SHA256").read_text()
    assert f"archive_sha256 {_sha(archive)}" in record
    # trust on first use: later loads check the files against the record
    write_tiny_midi(cache / TINY_NAME / "MIDI" / "tune0.mid", seed=99)
    with pytest.raises(DatasetError, match="do not match its checksum"):
        datasets.load(TINY_NAME, cache_dir=cache)


def test_adl_piano_refuses_unverified_download_without_network(cache):
    with pytest.raises(DatasetError, match="allow_unverified=True"):
        datasets.download("adl-piano", cache_dir=cache)
    assert _listing(cache) == []


def test_corrupted_pinned_download_is_detected(tmp_path, cache, monkeypatch):
    files = _tiny_files()
    archive = _make_zip(tmp_path / "tiny.zip", files)
    _register(monkeypatch, archive.as_uri(), content_sha256=_content_hash(files))
    datasets.load(TINY_NAME, download=True, cache_dir=cache)
    (cache / TINY_NAME / "MIDI" / "extra.mid").write_bytes(files["MIDI/tune0.mid"])
    with pytest.raises(DatasetError, match="download it again"):
        datasets.load(TINY_NAME, cache_dir=cache)


# --------------------------------------------------------------------------- folder corpora


def _bad_folder(folder: Path) -> dict[str, str]:
    """Write good and bad files; return {bad source: a word its reason must contain}."""
    write_tiny_midi(folder / "good.mid", 1)
    write_tiny_midi(folder / "with space's.MID", 2)
    write_tiny_midi(folder / "nested" / "Ünïcödé tune.mid", 3)
    (folder / "tunes.abc").write_text(GOOD_ABC + "\n" + BROKEN_ABC, encoding="latin-1")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "random.mid").write_bytes(np.random.default_rng(0).bytes(500))
    (folder / "text.mid").write_text("this is not music\n")
    (folder / "x.mid").mkdir()
    write_tiny_midi(folder / "drums.mid", 4, drums=True)
    (folder / "notes.txt").write_text("ignored: not a music suffix\n")
    (folder / ".hidden.mid").write_bytes(b"ignored: hidden")
    (folder / "dangling.mid").symlink_to(folder / "no-such-file.mid")
    os.mkfifo(folder / "pipe.mid")
    return {
        "dangling.mid": "broken symbolic link",
        "pipe.mid": "not a regular file",
        "empty.mid": "empty",
        "random.mid": "not a MIDI",
        "text.mid": "not a MIDI",
        "x.mid": "directory",
        "drums.mid": "drums",
        "tunes.abc#2": "ABC",
    }


def test_bad_files_are_reported_not_fatal(tmp_path):
    folder = tmp_path / "corpus"
    bad = _bad_folder(folder)
    corpus = datasets.load(folder, cache_dir=tmp_path / "cache")
    sources = sorted(t.source for t in corpus)
    assert sources == sorted(["good.mid", "with space's.MID", "nested/Ünïcödé tune.mid", "tunes.abc#1"])
    reasons = dict(corpus.skipped)
    assert sorted(reasons) == sorted(bad)
    for source, word in bad.items():
        assert word.lower() in reasons[source].lower(), (source, reasons[source])
    report = corpus.report()
    assert f"{len(bad)} skipped:" in report and "x.mid: is a directory" in report
    assert corpus.files == 8  # the MIDI/ABC files handed to the parser (not the folder, not notes.txt)


def test_unreadable_file_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    write_tiny_midi(folder / "a.mid", 1)
    write_tiny_midi(folder / "locked.mid", 2)
    real_hash = datasets.loading._hash_file

    def locked(path, **kwargs):  # chmod cannot lock out root, who runs some CI jobs
        if Path(path).name == "locked.mid":
            raise PermissionError(13, "Permission denied")
        return real_hash(path, **kwargs)

    monkeypatch.setattr(datasets.loading, "_hash_file", locked)
    corpus = datasets.load(folder, use_cache=False)
    assert [t.source for t in corpus] == ["a.mid"]
    assert corpus.skipped == [("locked.mid", "unreadable: Permission denied")]


def _two_good_files(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    write_tiny_midi(folder / "a.mid", 1)
    write_tiny_midi(folder / "sub" / "b.mid", 2)
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_symbolic_link_loops_are_reported(tmp_path, workers):
    """A link to itself and two links to each other: skipped with the reason, the corpus loads."""
    folder = _two_good_files(tmp_path)
    (folder / "x.mid").symlink_to(folder / "x.mid")
    (folder / "sub" / "ping.mid").symlink_to(folder / "sub" / "pong.mid")
    (folder / "sub" / "pong.mid").symlink_to(folder / "sub" / "ping.mid")
    (folder / "loop").symlink_to(folder / "loop")  # a looping link that is no music file: ignored
    corpus = datasets.load(folder, use_cache=False, workers=workers)
    assert [t.source for t in corpus] == ["a.mid", "sub/b.mid"]
    loop = "symbolic link loop (too many levels of symbolic links)"
    assert corpus.skipped == [("sub/ping.mid", loop), ("sub/pong.mid", loop), ("x.mid", loop)]
    assert "x.mid: symbolic link loop" in corpus.report()


def test_unlistable_sub_folder_is_reported(tmp_path, monkeypatch):
    folder = _two_good_files(tmp_path)
    write_tiny_midi(folder / "locked" / "c.mid", 3)
    real_scandir = os.scandir

    def scandir(path):  # chmod cannot lock out root, who runs some CI jobs
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    corpus = datasets.load(folder, use_cache=False)
    assert [t.source for t in corpus] == ["a.mid", "sub/b.mid"]
    assert corpus.skipped == [("locked", "folder not listed: unreadable: Permission denied")]


def test_unlistable_root_folder_is_a_dataset_error(tmp_path, monkeypatch):
    folder = _two_good_files(tmp_path)
    monkeypatch.setattr(os, "scandir", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(DatasetError, match="cannot list the folder .*: unreadable: Permission denied"):
        datasets.load(folder, use_cache=False)


@pytest.mark.parametrize(
    "error, reason",
    [
        (FileNotFoundError(2, "No such file or directory"), "no such file (it vanished after the folder was listed)"),
        (OSError(36, "File name too long"), "name too long for the file system"),
        (OSError(40, "Too many levels of symbolic links"), "symbolic link loop (too many levels of symbolic links)"),
        (OSError(5, "Input/output error"), "unreadable: Input/output error"),
    ],
    ids=["vanished", "name-refused", "loop", "io-error"],
)
def test_file_system_errors_while_hashing_are_reported(tmp_path, monkeypatch, error, reason):
    folder = _two_good_files(tmp_path)
    real_hash = datasets.loading._hash_file

    def failing(path, **kwargs):
        if Path(path).name == "b.mid":
            raise error
        return real_hash(path, **kwargs)

    monkeypatch.setattr(datasets.loading, "_hash_file", failing)
    corpus = datasets.load(folder, use_cache=False)
    assert [t.source for t in corpus] == ["a.mid"]
    assert corpus.skipped == [("sub/b.mid", reason)]


def _after_hashing(monkeypatch, change) -> None:
    """Run ``change()`` once every file is hashed, before any is parsed."""
    real = datasets.loading._hash_files

    def hash_then_change(*args, **kwargs):
        result = real(*args, **kwargs)
        change()
        return result

    monkeypatch.setattr(datasets.loading, "_hash_files", hash_then_change)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("what", ["vanishes", "becomes-a-loop", "becomes-a-folder"])
def test_file_changing_between_listing_and_parsing_is_reported(tmp_path, monkeypatch, workers, what):
    folder = _two_good_files(tmp_path)
    for i in range(3):  # enough files for the worker processes to share
        write_tiny_midi(folder / f"more {i}.mid", 10 + i)
    victim = folder / "sub" / "b.mid"

    def change():
        victim.unlink()
        if what == "becomes-a-loop":
            victim.symlink_to(victim)
        elif what == "becomes-a-folder":
            victim.mkdir()

    _after_hashing(monkeypatch, change)
    corpus = datasets.load(folder, use_cache=False, workers=workers)
    assert [t.source for t in corpus] == ["a.mid", "more 0.mid", "more 1.mid", "more 2.mid"]
    reason = {"vanishes": "no such file", "becomes-a-loop": "symbolic link loop",
              "becomes-a-folder": "is a directory, not a file"}[what]
    assert [source for source, _ in corpus.skipped] == ["sub/b.mid"]
    assert reason in corpus.skipped[0][1]


def test_permission_denied_while_parsing_is_reported(tmp_path, monkeypatch):
    folder = _two_good_files(tmp_path)
    real = Path.read_bytes

    def refuse(self):
        if self.name == "b.mid":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    corpus = datasets.load(folder, use_cache=False, workers=1)
    assert [t.source for t in corpus] == ["a.mid"]
    assert corpus.skipped == [("sub/b.mid", "unreadable: Permission denied")]


def test_changed_reader_code_changes_the_cache_key(monkeypatch):
    """The parse cache is keyed by the reader's source: a changed musiclib/io.py invalidates it."""
    from musiclib.datasets import cache

    before = cache.corpus_fingerprint([("a.mid", "0" * 64)], limits=ReadLimits(), keep_chords=True)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"# changed" if self.name == "io.py" else b""))
    cache._reader_version.cache_clear()
    try:
        after = cache.corpus_fingerprint([("a.mid", "0" * 64)], limits=ReadLimits(), keep_chords=True)
    finally:
        monkeypatch.undo()
        cache._reader_version.cache_clear()
    assert before != after


def test_string_folder_name_and_path_like_agree(tmp_path):
    folder = tmp_path / "corpus"
    write_tiny_midi(folder / "a.mid", 1)
    by_path = datasets.load(folder, use_cache=False)
    by_str = datasets.load(f"{folder}//", use_cache=False, progress=True)
    assert by_path.name == by_str.name == "corpus"
    assert [t.source for t in by_str] == ["a.mid"]
    assert_tunes_equal(by_path.tunes, by_str.tunes)
    assert len(by_path) == 1 and by_path[0] is list(by_path)[0] and not by_path.merge_tracks
    with pytest.raises(DatasetError, match="no such folder"):
        datasets.load(tmp_path / "missing", use_cache=False)


def test_unexpected_exception_in_one_file_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    write_tiny_midi(folder / "a.mid", 1)
    write_tiny_midi(folder / "b.mid", 2)
    real_read = musiclib.io.read

    def flaky(path, **kwargs):
        if Path(path).name == "b.mid":
            raise RuntimeError("parser crashed")
        return real_read(path, **kwargs)

    monkeypatch.setattr(musiclib.io, "read", flaky)
    corpus = datasets.load(folder, use_cache=False)
    assert [t.source for t in corpus] == ["a.mid"]
    assert corpus.skipped == [("b.mid", "RuntimeError: parser crashed")]


def test_size_limit_skips_without_breaking_verification(tmp_path, cache, monkeypatch):
    folder = tmp_path / "corpus"
    write_tiny_midi(folder / "small.mid", 1)
    write_tiny_midi(folder / "big.mid", 2, n_notes=400)
    limits = ReadLimits(max_bytes=(folder / "small.mid").stat().st_size)
    corpus = datasets.load(folder, limits=limits, use_cache=False)
    assert [t.source for t in corpus] == ["small.mid"]
    assert corpus.skipped[0][0] == "big.mid" and "exceeds the limit" in corpus.skipped[0][1]
    # a verified download still verifies when its files are over the read limit
    files = _tiny_files()
    archive = _make_zip(tmp_path / "tiny.zip", files)
    _register(monkeypatch, archive.as_uri(), content_sha256=_content_hash(files))
    datasets.download(TINY_NAME, cache_dir=cache)
    with pytest.raises(DatasetError, match="no readable tune.*exceeds the limit"):
        datasets.load(TINY_NAME, cache_dir=cache, limits=ReadLimits(max_bytes=10))


def test_all_bad_folder_raises(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.mid").write_bytes(b"")
    (folder / "text.mid").write_text("nope")
    with pytest.raises(DatasetError, match="no readable tune in .*2 files skipped.*empty"):
        datasets.load(folder, cache_dir=tmp_path / "cache")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DatasetError, match="no readable tune"):
        datasets.load(tmp_path / "nothing", cache_dir=tmp_path / "cache")


def test_workers_give_identical_results(tmp_path):
    folder = tmp_path / "corpus"
    _bad_folder(folder)
    for i in range(12):
        write_tiny_midi(folder / f"more/t{i:02d}.mid", 10 + i)
    serial = datasets.load(folder, use_cache=False, workers=1)
    parallel = datasets.load(folder, use_cache=False, workers=2)
    assert_tunes_equal(serial.tunes, parallel.tunes)
    assert serial.skipped == parallel.skipped and serial.fingerprint == parallel.fingerprint
    with pytest.raises(ValueError, match="workers"):
        datasets.load(folder, workers=0)


# --------------------------------------------------------------------------- parse cache


@pytest.fixture
def small_corpus(tmp_path):
    folder = tmp_path / "corpus"
    _bad_folder(folder)
    return folder, tmp_path / "cache"


def _cache_entry(cache_dir: Path, fingerprint: str) -> tuple[Path, Path]:
    parsed = cache_dir / datasets.PARSED_DIR
    return parsed / f"{fingerprint}.npz", parsed / f"{fingerprint}.json"


def test_second_load_hits_the_cache(small_corpus, monkeypatch):
    folder, cache_dir = small_corpus
    cold = datasets.load(folder, cache_dir=cache_dir)
    npz, header = _cache_entry(cache_dir, cold.fingerprint)
    assert npz.is_file() and header.is_file()

    def no_parsing(*args, **kwargs):
        raise AssertionError("the parser must not run on a warm load")

    monkeypatch.setattr(musiclib.io, "read", no_parsing)
    warm = datasets.load(folder, cache_dir=cache_dir)
    assert_tunes_equal(cold.tunes, warm.tunes)
    assert warm.skipped == cold.skipped and warm.files == cold.files and warm.fingerprint == cold.fingerprint


DAMAGES = ["truncate npz", "flip npz byte", "garbage json", "delete npz", "delete json"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_cache_is_rebuilt(small_corpus, damage):
    folder, cache_dir = small_corpus
    cold = datasets.load(folder, cache_dir=cache_dir)
    npz, header = _cache_entry(cache_dir, cold.fingerprint)
    if damage == "truncate npz":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif damage == "flip npz byte":
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0xFF
        npz.write_bytes(bytes(data))
    elif damage == "garbage json":
        header.write_text('{"format": "musiclib-parsed-corpus-v1", "tunes": [')
    else:
        (npz if damage == "delete npz" else header).unlink()
    with pytest.warns(CacheRebuiltWarning, match="rebuilt"):
        rebuilt = datasets.load(folder, cache_dir=cache_dir)
    assert_tunes_equal(cold.tunes, rebuilt.tunes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_tunes_equal(cold.tunes, datasets.load(folder, cache_dir=cache_dir).tunes)


def test_inconsistent_cache_is_rebuilt(small_corpus):
    folder, cache_dir = small_corpus
    cold = datasets.load(folder, cache_dir=cache_dir)
    _, header = _cache_entry(cache_dir, cold.fingerprint)
    header.write_text(header.read_text().replace('"tracks":[["melody",0,false]]', '"tracks":[]', 1))
    with pytest.warns(CacheRebuiltWarning):
        assert_tunes_equal(cold.tunes, datasets.load(folder, cache_dir=cache_dir).tunes)


def test_fingerprint_follows_content_and_options(small_corpus):
    folder, cache_dir = small_corpus
    base = datasets.load(folder, cache_dir=cache_dir).fingerprint
    assert datasets.load(folder, cache_dir=cache_dir, keep_chords=False).fingerprint != base
    assert datasets.load(folder, cache_dir=cache_dir, limits=ReadLimits(max_notes=1000)).fingerprint != base
    write_tiny_midi(folder / "good.mid", 77)
    changed = datasets.load(folder, cache_dir=cache_dir)
    assert changed.fingerprint != base
    assert changed.by_source()["good.mid"].tracks[0].notes.tolist() == tiny_tune(77).tracks[0].notes.tolist()


def test_use_cache_false_writes_nothing(small_corpus):
    folder, cache_dir = small_corpus
    datasets.load(folder, cache_dir=cache_dir, use_cache=False)
    assert _listing(cache_dir) == []


# --------------------------------------------------------------------------- real data

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"reference data not found at {SHARED_DATA} (set MUSICLIB_SHARED_DATA)"
)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@needs_shared
def test_nottingham_local_copy(shared_cache):
    root = SHARED_DATA / "nottingham"
    assert datasets.content_checksum(root, "MIDI") == datasets.info("nottingham").content_sha256
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a matching copy must not warn
        corpus = datasets.load("nottingham", path=root, cache_dir=shared_cache)
    assert corpus.skipped == [], corpus.report()
    assert len(corpus) == 1034 and corpus.files == 1034
    assert corpus.tunes[0].source == "MIDI/ashover1.mid"
    assert all(len(t.tracks) >= 1 for t in corpus)
    straight = datasets.load("nottingham", path=root / "MIDI", cache_dir=shared_cache)
    assert straight.fingerprint == corpus.fingerprint and len(straight) == 1034


@needs_shared
def test_vgmidi_piano_folder(shared_cache):
    corpus = datasets.load(SHARED_DATA / "vgmidi-piano", cache_dir=shared_cache)
    assert corpus.files == 204
    assert len(corpus) + len(corpus.skipped) == 204, corpus.report()
    # the stand-in for adl-piano: read as that dataset, tracks are marked for merging
    as_adl = datasets.load("adl-piano", path=SHARED_DATA / "vgmidi-piano", cache_dir=shared_cache)
    assert as_adl.merge_tracks and as_adl.fingerprint == corpus.fingerprint and len(as_adl) == len(corpus)
