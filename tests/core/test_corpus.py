import http.server
import re
import threading
import time

import pytest

from charlm_tui.core.data import catalog
from charlm_tui.core.data import corpus as corpus_mod
from charlm_tui.core.data.catalog import add_to_user_dir, list_catalog, resolve
from charlm_tui.core.data.corpus import TextOptions, corpus_from_text
from charlm_tui.core.data.download import download
from charlm_tui.core.errors import ConfigError, CorpusError


def test_python_docs_is_the_default_and_is_stable(home):
    entries = list_catalog(home)
    assert entries[0].name == "python-docs" == catalog.DEFAULT_CORPUS
    a, b = resolve("python-docs", home), resolve("python-docs", home)
    assert a.stats.chars > 300_000 and 60 < a.vocab.size < 200
    assert a.sha256 == b.sha256 and a.ids.dtype.itemsize == 1
    assert "statement" in a.stats.preview


def test_python_code_is_stdlib_source_with_headers_and_capped(home, monkeypatch):
    monkeypatch.setenv(catalog.CODE_MAX_BYTES_ENV, "200000")
    c = resolve("python-code", home)
    assert 190_000 < c.n_bytes <= 200_000
    assert c.stats.preview.startswith("# ---- ")
    assert "def " in c.stats.preview or "import" in c.stats.preview
    assert resolve("python-code", home).sha256 == c.sha256


def test_stats_lines_rare_and_baseline():
    c = corpus_from_text("aab\nab\nz")
    assert c.stats.chars == 8 and c.stats.lines == 3 and c.stats.distinct == 4
    assert c.baseline_ppl == 5.0  # 4 chars + <unk>
    assert c.stats.rare[0] == ("z", 1)
    assert c.split_sizes(0.25) == (6, 2)


def test_folder_glob_is_concatenated_in_a_stable_order(tmp_path, home):
    for rel, text in {"a/2.md": "two", "a/10.md": "ten", "b/1.md": "one", "b/skip.txt": "no"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    c = resolve(str(tmp_path / "**" / "*.md"), home)
    assert c.vocab.decode(c.ids.tolist()) == "ten\n\ntwo\n\none"
    d = resolve(str(tmp_path / "a"), home)  # a plain folder: every file
    assert d.vocab.decode(d.ids.tolist()) == "ten\n\ntwo"


def test_user_corpora_dir_files_are_listed(home):
    (home / "corpora").mkdir()
    (home / "corpora" / "poems.txt").write_text("roses are red\n")
    (home / "corpora" / "python-docs.txt").write_text("clash\n")
    names = {e.name: e for e in list_catalog(home)}
    assert names["poems"].kind == "user"
    assert "python-docs.txt" in names and names["python-docs"].kind == "built-in"
    assert resolve("poems", home).stats.chars == 14


def test_bom_encoding_nfc_and_lower(tmp_path, home):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfHi\n")
    assert resolve(str(p), home).stats.preview == "Hi\n"
    q = tmp_path / "latin.txt"
    q.write_bytes("caf\xe9 CAFE\u0301".encode("latin-1", errors="ignore") + b"\n")
    c = resolve(str(q), home, TextOptions(encoding="latin-1", lower=True))
    assert c.stats.preview == "café cafe\n"
    r = tmp_path / "nfd.txt"
    r.write_text("cafe\u0301")
    assert resolve(str(r), home, TextOptions(normalize="NFC")).stats.preview == "café"
    assert c.info()["lower"] is True


def test_multibyte_chars_split_across_chunks(tmp_path, home, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 5)
    text = "héllo wörld 日本語 🙂 fin\n" * 3
    p = tmp_path / "u.txt"
    p.write_text(text, encoding="utf-8")
    c = resolve(str(p), home)
    assert c.vocab.decode(c.ids.tolist()) == text


@pytest.mark.parametrize(
    "data,msg",
    [
        (b"", "is empty"),
        (b"aaaaaaa", r"only one distinct character \('a'\)"),
        (b"good text\xff\xfe more", r"not valid UTF-8 \(bad byte 0xff at offset 9\); pass --encoding"),
        (b"PK\x03\x04\x00\x00binary", r"looks binary \(NUL byte at offset 4\)"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, home, monkeypatch, data, msg):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 4)  # offsets stay exact across chunks
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    with pytest.raises(CorpusError, match=msg):
        resolve(str(p), home)


def test_missing_paths_and_empty_folders(tmp_path, home):
    with pytest.raises(CorpusError, match="no such file or folder"):
        resolve(str(tmp_path / "nope.txt"), home)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no files match"):
        resolve(str(tmp_path / "empty" / "*.md"), home)
    with pytest.raises(CorpusError, match="neither a corpus name nor an existing path"):
        resolve("no-such-corpus", home)


def test_permission_denied(tmp_path, home, monkeypatch):
    p = tmp_path / "secret.txt"
    p.write_text("hidden text")
    monkeypatch.setattr(catalog.os, "access", lambda *a: False)  # tests run as root, where chmod 000 reads fine
    with pytest.raises(CorpusError, match="permission denied"):
        resolve(str(p), home)


def test_corpus_too_small_for_one_batch_says_how_small(tmp_path, home):
    from charlm_tui.core.training.jobs import new_job
    from charlm_tui.core.training.trainer import TrainConfig

    p = tmp_path / "small.txt"
    p.write_text("abcdefghij" * 10)
    with pytest.raises(ConfigError, match=r"training split has 90 characters.*needs at least 2,049"):
        new_job(home, str(p), {}, TrainConfig(batch_size=32, num_steps=64))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/shakes.txt":
            body = b"to be or not to be\n" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow":
            time.sleep(2)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
        elif self.path == "/trickle":
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only part of it\n")
        elif self.path == "/binary.txt":
            body = b"\x7fELF\x02\x01\x00\x00" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/other/"):
            body = b"a different text\n" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/big-unsized":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"x" * 1000)
        else:
            self.send_error(404, "Not Found")


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_url_download_saved_for_offline_use(server, home):
    seen = []
    c = resolve(f"{server}/shakes.txt", home, download_progress=lambda d, t: seen.append((d, t)))
    assert c.stats.chars == 190 and seen[-1] == (190, 190)
    assert (home / "corpora" / "shakes.txt").is_file()
    assert resolve("shakes", home).sha256 == c.sha256  # by name, no network


def test_url_failures(server, tmp_path):
    u = tmp_path / "u.txt"
    with pytest.raises(CorpusError, match="HTTP 404"):
        download(f"{server}/missing.txt", u)
    with pytest.raises(CorpusError, match=r"timed out \(no data for 0.3 s\)"):
        download(f"{server}/slow", u, timeout=0.3)
    with pytest.raises(CorpusError, match="too big"):
        download(f"{server}/big", u, max_bytes=1000)
    with pytest.raises(CorpusError, match="too big"):
        download(f"{server}/big-unsized", u, max_bytes=1000)
    with pytest.raises(CorpusError, match="took longer than 0.5 s"):  # each byte in time, the whole too slow
        download(f"{server}/trickle", u, timeout=5, deadline=0.5)
    with pytest.raises(CorpusError, match=r"cut short \(16 of 1,000 bytes\)"):
        download(f"{server}/short", u)
    with pytest.raises(CorpusError, match="binary data"):
        download(f"{server}/binary.txt", u)
    assert not u.exists() and not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(CorpusError, match="download failed"):
        download("http://127.0.0.1:9/x.txt", u, timeout=2)


def test_urls_are_cached_by_url_not_by_file_name(server, home):
    a = resolve(f"{server}/shakes.txt", home)
    b = resolve(f"{server}/other/shakes.txt", home)  # same file name, another URL: its own file
    assert a.sha256 != b.sha256 and b.stats.preview.startswith("a different text")
    assert resolve(f"{server}/shakes.txt", home).sha256 == a.sha256
    names = sorted(p.name for p in (home / "corpora").iterdir() if not p.name.startswith("."))
    assert len(names) == 2 and "shakes.txt" in names and any(n.startswith("shakes-") for n in names)


def test_stale_partial_download_is_removed_at_next_listing(home):
    from charlm_tui.core.data.catalog import list_catalog

    folder = home / "corpora"
    folder.mkdir(parents=True)
    stale = folder / ".big.txt.tmp-999999999-abcdef"  # its writer (a pid that cannot exist) was killed
    stale.write_bytes(b"half a download")
    list_catalog(home)
    assert not stale.exists()


def test_file_urls_and_other_schemes(tmp_path, home):
    p = tmp_path / "f.txt"
    p.write_text("hello file url\n")
    assert resolve(p.as_uri(), home).stats.chars == 15
    with pytest.raises(CorpusError, match="ftp:// URLs are not supported"):
        resolve("ftp://example.com/x.txt", home)


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://[::1", "not a valid URL (Invalid IPv6 URL)"),
        ("http://example.com:abc/x.txt", "not a valid URL (Port could not be cast"),
        ("https://[::1]:99999999/x", "not a valid URL (Port out of range"),
        ("file://[::1/x", "not a valid URL (Invalid IPv6 URL)"),
        ("http://", "no host in the URL"),
        ("https:///x.txt", "no host in the URL"),
    ],
)
def test_a_url_urllib_cannot_parse_is_a_corpus_error_not_a_traceback(home, url, says):
    """'http://[::1' ended `corpora add` and `train` in urllib's ValueError traceback."""
    with pytest.raises(CorpusError, match=re.escape(f"{url}: {says}")):
        resolve(url, home)


def test_add_copies_a_file_and_refuses_binary(tmp_path, home):
    p = tmp_path / "mine.txt"
    p.write_text("my own words\n")
    dest = add_to_user_dir(str(p), home, name="words")
    assert dest == home / "corpora" / "words.txt" and dest.read_text() == "my own words\n"
    p.write_text("other words\n")
    with pytest.raises(CorpusError, match="a corpus named 'words' exists already"):
        add_to_user_dir(str(p), home, name="words")
    assert dest.read_text() == "my own words\n"
    add_to_user_dir(str(p), home, name="words", replace=True)
    assert dest.read_text() == "other words\n"
    for bad in ("../escaped", "/abs/name", "a/b", "latest", "", ".hidden", "x" * 101):
        with pytest.raises(CorpusError):
            add_to_user_dir(str(p), home, name=bad)
    with pytest.raises(CorpusError, match="built-in"):
        add_to_user_dir(str(p), home, name="python-docs")
    assert sorted(x.name for x in (home / "corpora").iterdir()) == ["words.txt"]
    assert not (home / "escaped.txt").exists()
    b = tmp_path / "bin.dat"
    b.write_bytes(b"\x00\x01\x02")
    with pytest.raises(CorpusError, match="looks binary"):
        add_to_user_dir(str(b), home)
    assert not (home / "corpora" / "bin.txt").exists()


def test_the_app_add_box_picks_a_free_name_instead_of_replacing(tmp_path, home):
    p = tmp_path / "notes.md"
    p.write_text("first notes\n")
    assert add_to_user_dir(str(p), home, free_name=True).name == "notes.txt"
    p.write_text("second notes\n")
    assert add_to_user_dir(str(p), home, free_name=True).name == "notes-2.txt"
    assert (home / "corpora" / "notes.txt").read_text() == "first notes\n"
    with pytest.raises(CorpusError, match="exists already"):
        add_to_user_dir(str(p), home)  # the CLI names it by the file, and refuses to replace
