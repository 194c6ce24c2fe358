from __future__ import annotations

from pathlib import Path

from dbaudit.scan.reading import RawSource, Unreadable, count_lines, decode, read_bytes


def test_reads_bytes_and_hashes_content(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    a = read_bytes(str(tmp_path / "a.py"), 1000)
    b = read_bytes(str(tmp_path / "b.py"), 1000)
    assert isinstance(a, RawSource) and isinstance(b, RawSource)
    assert a.digest == b.digest and len(a.digest) == 32


def test_empty_and_whitespace_only_files_are_skipped_by_design(tmp_path: Path) -> None:
    (tmp_path / "e.py").write_text("")
    (tmp_path / "w.py").write_text("\n  \n")
    for name in ("e.py", "w.py"):
        result = read_bytes(str(tmp_path / name), 1000)
        assert result == Unreadable("empty file", is_error=False)


def test_files_over_the_size_limit_are_skipped_by_design(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 100)
    result = read_bytes(str(tmp_path / "big.py"), 100)
    assert isinstance(result, Unreadable) and not result.is_error
    assert result.reason.startswith("too large (over 100 bytes")


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    result = read_bytes(str(tmp_path / "gone.py"), 100)
    assert result == Unreadable("unreadable: no such file or directory")


def test_decode_honours_bom_and_coding_cookie_and_rejects_bad_bytes() -> None:
    assert decode("x = 'é'\n".encode()) == "x = 'é'\n"
    assert decode(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    latin = "# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1")
    assert decode(latin) == "# -*- coding: latin-1 -*-\nx = 'é'\n"
    assert decode(b"x = '\xff\xfe'\n") == Unreadable("not valid UTF-8 (byte 5)")
    bad_cookie = decode(b"# coding: no-such-codec\nx = 1\n")
    assert isinstance(bad_cookie, Unreadable)
    assert bad_cookie.reason.startswith("bad encoding declaration")


def test_count_lines_counts_a_last_line_without_newline() -> None:
    assert count_lines(b"") == 0
    assert count_lines(b"a\nb\n") == 2
    assert count_lines(b"a\nb") == 2
