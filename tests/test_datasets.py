"""Tests of reclib.data.datasets: the real datasets, path resolution, and the downloader.

The downloader is only ever pointed at a ThreadingHTTPServer on 127.0.0.1 that serves zips
built here in tmp_path; an autouse fixture replaces the official URLs so that a test which
forgot its URL fails locally instead of reaching GroupLens.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclib.data import datasets
from reclib.data.datasets import download_dataset, load_dataset, resolve_data_dir
from reclib.exceptions import DatasetError, InvalidParameterError

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"


@pytest.fixture(autouse=True)
def _no_real_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every default URL at a closed local port and clear the URL/data overrides."""
    local = {name: f"http://127.0.0.1:9/not-in-tests/{name}.zip" for name in datasets.OFFICIAL_URLS}
    monkeypatch.setattr(datasets, "OFFICIAL_URLS", local)
    for name in datasets.DATASET_NAMES:
        monkeypatch.delenv(datasets._url_env_var(name), raising=False)
    monkeypatch.delenv("RECLIB_DATA", raising=False)
    monkeypatch.delenv("RECLIB_NO_PROGRESS", raising=False)


# ----------------------------------------------------------------------------------------
# The real datasets
# ----------------------------------------------------------------------------------------

REAL = [
    # name, rows, users, items, has timestamps
    ("ml-100k", 100_000, 943, 1_682, True),
    ("ml-1m", 1_000_209, 6_040, 3_706, True),
    ("ml-latest-small", 100_836, 610, 9_724, True),
    ("lastfm", 92_834, 1_892, 17_632, False),
]


@pytest.mark.parametrize(
    ("name", "rows", "users", "items", "timed"), REAL, ids=[r[0] for r in REAL]
)
def test_real_dataset_counts_and_schema(
    data_dir: Path, name: str, rows: int, users: int, items: int, timed: bool
) -> None:
    frame = load_dataset(name, data_dir)
    assert len(frame) == rows
    assert frame["user_id"].nunique() == users
    assert frame["item_id"].nunique() == items
    expected_columns = ["user_id", "item_id", "relevance"] + (["timestamp"] if timed else [])
    assert list(frame.columns) == expected_columns
    assert frame["user_id"].dtype == np.int64 and frame["item_id"].dtype == np.int64
    assert frame["relevance"].dtype == np.float64
    if timed:
        assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_ml_100k_first_row_and_times(data_dir: Path) -> None:
    frame = load_dataset("ml-100k", data_dir)
    first = frame.iloc[0]
    assert (first["user_id"], first["item_id"], first["relevance"]) == (196, 242, 3.0)
    assert first["timestamp"] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert frame["timestamp"].notna().all()


def test_lastfm_relevance_is_the_listening_weight(data_dir: Path) -> None:
    frame = load_dataset("lastfm", data_dir)
    assert frame.iloc[0].tolist() == [2, 51, 13883.0]
    assert frame["relevance"].min() == 1.0 and frame["relevance"].max() == 352_698.0


def test_ml_1m_reduced_copy_has_partial_timestamps(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if (data_dir / "ml-1m" / "ratings.dat").exists():
        pytest.skip("this ml-1m copy has the original ratings.dat")
    with caplog.at_level(logging.WARNING, logger="reclib"):
        frame = load_dataset("ml-1m", data_dir)
    timed = frame["timestamp"].notna()
    assert timed.sum() == 487_650
    assert (frame.loc[timed, "user_id"] <= 2999).all()
    assert (frame.loc[~timed, "user_id"] >= 3000).all()
    assert frame["timestamp"].min() == pd.Timestamp("2000-10-04 00:52:14", tz="UTC")
    assert "timestamp NaT" in caplog.text and "users 1-2999" in caplog.text


# ----------------------------------------------------------------------------------------
# Finding and reading files
# ----------------------------------------------------------------------------------------


def write_ml_100k(root: Path, text: str = U_DATA) -> Path:
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    (folder / "u.data").write_text(text)
    return folder


def test_data_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "reclib" / "data"
    monkeypatch.setenv("RECLIB_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert datasets.dataset_dir("lastfm", tmp_path) == tmp_path / "hetrec2011-lastfm-2k"


def test_env_data_dir_is_used_for_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ml_100k(tmp_path)
    monkeypatch.setenv("RECLIB_DATA", str(tmp_path))
    assert len(load_dataset("ml-100k")) == 3


def test_missing_dataset_says_where_and_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        load_dataset("ml-100k", tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "ml-100k") in message and "u.data" in message
    assert "`data_dir` argument" in message
    assert "RECLIB_DATA" in message and "--data-dir" in message and "download=True" in message


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="ml-100k"):
        load_dataset("ml-20m", tmp_path)


def test_row_count_different_from_the_release_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_ml_100k(tmp_path)
    with caplog.at_level(logging.WARNING, logger="reclib"):
        frame = load_dataset("ml-100k", tmp_path)
    assert len(frame) == 3
    assert "has 3 rows" in caplog.text and "100000" in caplog.text


def test_unparsable_file_names_the_file(tmp_path: Path) -> None:
    folder = write_ml_100k(tmp_path, "1\t2\tthree\t4\n")
    with pytest.raises(DatasetError, match=str(folder / "u.data")):
        load_dataset("ml-100k", tmp_path)


def test_ml_1m_original_ratings_dat_is_preferred(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n2::661::3::978302109\n")
    with gzip.open(folder / datasets._ML1M_ALL_NO_TIME, "wt") as handle:
        handle.write("9::9::1\n")
    with caplog.at_level(logging.WARNING, logger="reclib"):
        frame = load_dataset("ml-1m", tmp_path)
    assert frame["item_id"].tolist() == [1193, 661]
    assert frame["timestamp"].notna().all()
    assert "NaT" not in caplog.text


def test_ml_1m_partial_times_matched_by_pair_when_not_in_file_order(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    with gzip.open(folder / datasets._ML1M_ALL_NO_TIME, "wt") as handle:
        handle.write("1::10::5\n1::20::4\n2::10::3\n3000::10::2\n")
    with gzip.open(folder / datasets._ML1M_PARTIAL_TIME, "wt") as handle:
        handle.write("2::10::3::200\n1::20::4::100\n")
    frame = load_dataset("ml-1m", tmp_path)
    expected = pd.to_datetime([None, 100, 200, None], unit="s", utc=True)
    pd.testing.assert_series_equal(
        frame["timestamp"], pd.Series(expected, name="timestamp"), check_index_type=False
    )
    assert frame["relevance"].tolist() == [5.0, 4.0, 3.0, 2.0]


# ----------------------------------------------------------------------------------------
# The downloader, against a local server
# ----------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@pytest.fixture()
def www(tmp_path: Path) -> Path:
    """The folder the local server serves."""
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture()
def server(www: Path) -> Iterator[str]:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) serving ``www``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve = functools.partial(httpd.serve_forever, poll_interval=0.05)
    thread = threading.Thread(target=serve, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(zipfile.ZipInfo(name), text)
    return path


def fake_ml_100k(www: Path, extra: dict[str, str] | None = None) -> Path:
    members = {"ml-100k/u.data": U_DATA, "ml-100k/README": "fake", **(extra or {})}
    return make_zip(www / "ml-100k.zip", members)


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith(".reclib"))


def test_download_then_load(www: Path, server: str, tmp_path: Path) -> None:
    fake_ml_100k(www)
    data_dir = tmp_path / "data"
    folder = download_dataset("ml-100k", data_dir, url=f"{server}/ml-100k.zip", progress=False)
    assert folder == data_dir / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == ["README", "u.data"]
    assert leftovers(data_dir) == []
    assert load_dataset("ml-100k", data_dir)["user_id"].tolist() == [196, 186, 22]


def test_load_with_download_uses_the_env_url(
    www: Path, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ml_100k(www)
    monkeypatch.setenv("RECLIB_DATA_URL_ML_100K", f"{server}/ml-100k.zip")
    monkeypatch.setenv("RECLIB_NO_PROGRESS", "1")
    frame = load_dataset("ml-100k", tmp_path / "data", download=True)
    assert len(frame) == 3


def test_flat_zip_layout_lands_in_the_usual_folder(www: Path, server: str, tmp_path: Path) -> None:
    make_zip(www / "lastfm.zip", {"user_artists.dat": "userID\tartistID\tweight\r\n2\t51\t7\r\n"})
    folder = download_dataset("lastfm", tmp_path, url=f"{server}/lastfm.zip", progress=False)
    assert folder == tmp_path / "hetrec2011-lastfm-2k"
    assert load_dataset("lastfm", tmp_path).iloc[0].tolist() == [2, 51, 7.0]


def test_progress_bar_goes_to_stderr(
    www: Path, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ml_100k(www)
    download_dataset("ml-100k", tmp_path, url=f"{server}/ml-100k.zip", progress=True)
    assert "downloading ml-100k" in capsys.readouterr().err


def test_md5_is_checked_when_given(www: Path, server: str, tmp_path: Path) -> None:
    fake_ml_100k(www)
    url = f"{server}/ml-100k.zip"
    with pytest.raises(DatasetError, match="md5") as caught:
        download_dataset("ml-100k", tmp_path, url=url, progress=False, md5="0" * 32)
    assert url in str(caught.value)
    assert not (tmp_path / "ml-100k").exists() and leftovers(tmp_path) == []

    good = hashlib.md5((www / "ml-100k.zip").read_bytes()).hexdigest()
    download_dataset("ml-100k", tmp_path, url=url, progress=False, md5=good)
    assert (tmp_path / "ml-100k" / "u.data").is_file()


@pytest.mark.parametrize(
    ("member", "reason"),
    [("../evil", "'..' component"), ("ml-100k/../../evil", "'..' component"),
     ("/evil", "absolute path")],
)
def test_unsafe_members_are_refused(
    www: Path, server: str, tmp_path: Path, member: str, reason: str
) -> None:
    fake_ml_100k(www, {member: "gotcha"})
    data_dir = tmp_path / "data"
    url = f"{server}/ml-100k.zip"
    with pytest.raises(DatasetError, match=reason) as caught:
        download_dataset("ml-100k", data_dir, url=url, progress=False)
    assert url in str(caught.value) and member in str(caught.value)
    assert not (tmp_path / "evil").exists()
    assert not (data_dir / "ml-100k").exists() and leftovers(data_dir) == []


def test_http_404_names_the_url(server: str, tmp_path: Path) -> None:
    url = f"{server}/missing.zip"
    with pytest.raises(DatasetError, match="HTTP 404") as caught:
        download_dataset("ml-100k", tmp_path, url=url, progress=False)
    assert url in str(caught.value)
    assert leftovers(tmp_path) == []


def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    # The autouse fixture points the default at port 9 on 127.0.0.1, where nothing listens.
    with pytest.raises(DatasetError, match="127.0.0.1:9"):
        download_dataset("ml-1m", tmp_path, progress=False)


def test_not_a_zip(www: Path, server: str, tmp_path: Path) -> None:
    (www / "page.zip").write_text("<html>not found</html>")
    with pytest.raises(DatasetError, match="not a zip archive"):
        download_dataset("ml-100k", tmp_path, url=f"{server}/page.zip", progress=False)


def test_zip_without_the_dataset(www: Path, server: str, tmp_path: Path) -> None:
    make_zip(www / "other.zip", {"other/ratings.txt": "1 2 3"})
    with pytest.raises(DatasetError, match="holds none of"):
        download_dataset("ml-100k", tmp_path, url=f"{server}/other.zip", progress=False)
    assert not (tmp_path / "ml-100k").exists()


def test_present_dataset_is_not_downloaded_again(tmp_path: Path) -> None:
    folder = write_ml_100k(tmp_path)
    # The URL leads nowhere: a fetch would fail.
    assert download_dataset("ml-100k", tmp_path, url="http://127.0.0.1:9/x.zip") == folder


def test_incomplete_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="move it away"):
        download_dataset("ml-100k", tmp_path, url="http://127.0.0.1:9/x.zip")
    assert (tmp_path / "ml-100k" / "notes.txt").read_text() == "mine"


def test_unsupported_url_scheme(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="ftp://127.0.0.1/ml-100k.zip"):
        download_dataset("ml-100k", tmp_path, url="ftp://127.0.0.1/ml-100k.zip")
