"""``reclib.save`` / ``reclib.load``: round trips over the whole zoo, and every bad file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from zoo import ZOO_NAMES, make_zoo_model, zoo_fit, zoo_predict

import reclib
from reclib.exceptions import InvalidParameterError, ModelFileError
from reclib.io import FORMAT_VERSION, MANIFEST
from reclib.models import KNN, PopRec
from reclib.models.registry import MODELS, model_classes


@pytest.fixture(scope="module")
def zoo_log() -> pd.DataFrame:
    """40 users x 25 items with 0/1 relevance (Wilson) and timestamps (sequence models)."""
    rng = np.random.default_rng(7)
    users = np.repeat(np.arange(40), 8)
    items = np.concatenate([rng.choice(25, size=8, replace=False) for _ in range(40)])
    return pd.DataFrame(
        {
            "user_idx": users,
            "item_idx": items,
            "relevance": rng.integers(0, 2, size=len(users)).astype(np.float64),
            "timestamp": pd.Timestamp("2021-01-01")
            + pd.to_timedelta(np.arange(len(users)), unit="h"),
        }
    )


def _outputs(model, log: pd.DataFrame) -> pd.DataFrame:
    """What a model gives for the log: top-5 lists, or neighbours where predict is not offered."""
    try:
        recs = zoo_predict(model, log, k=5)
    except NotImplementedError:
        recs = model.get_nearest_items(np.unique(log["item_idx"]), k=5)
    return recs.reset_index(drop=True)


def _save_knn(tmp_path: Path, log: pd.DataFrame) -> Path:
    return reclib.save(KNN(num_neighbours=5).fit(log), tmp_path / "knn")


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def _write_manifest(path: Path, manifest: dict) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest))


# --- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ZOO_NAMES)
def test_every_model_round_trips_with_identical_predictions(
    name: str, zoo_log: pd.DataFrame, tmp_path: Path
) -> None:
    model = zoo_fit(make_zoo_model(name), zoo_log)
    loaded = reclib.load(reclib.save(model, tmp_path / name))

    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    meta, arrays = model.export_state()
    loaded_meta, loaded_arrays = loaded.export_state()
    assert loaded_meta == meta
    assert arrays.keys() == loaded_arrays.keys()
    for key, array in arrays.items():
        assert loaded_arrays[key].dtype == array.dtype
        np.testing.assert_array_equal(loaded_arrays[key], array, err_msg=key)
    pd.testing.assert_frame_equal(_outputs(loaded, zoo_log), _outputs(model, zoo_log))


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_unfitted_model_round_trips_its_config(name: str, tmp_path: Path) -> None:
    model = make_zoo_model(name)
    loaded = reclib.load(reclib.save(model, tmp_path / name))
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert not loaded.is_fitted


def test_manifest_layout_and_plain_npy_files(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)
    assert manifest["format"] == "reclib.model"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["reclib_version"] == reclib.__version__
    assert manifest["class"] == "KNN"
    assert manifest["config"] == {
        "model": "KNN", "params": {"num_neighbours": 5, "use_relevance": False, "shrink": 0.0}
    }
    assert {"user_ids", "item_ids"} <= set(manifest["arrays"])

    files = sorted(p.name for p in path.iterdir())
    assert files == sorted([MANIFEST] + [e["file"] for e in manifest["arrays"].values()])
    for entry in manifest["arrays"].values():
        data = (path / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        array = np.load(path / entry["file"], allow_pickle=False)
        assert array.dtype.str == entry["dtype"] and list(array.shape) == entry["shape"]
    # Written atomically: nothing but the model is left in the parent folder.
    assert [p.name for p in tmp_path.iterdir()] == ["knn"]


def test_overwrite(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    with pytest.raises(InvalidParameterError, match="already exists; pass overwrite=True"):
        reclib.save(PopRec(), path)

    reclib.save(PopRec().fit(zoo_log), path, overwrite=True)
    assert isinstance(reclib.load(path), PopRec)
    assert [p.name for p in tmp_path.iterdir()] == ["knn"]

    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="not a saved reclib model; refusing"):
        reclib.save(PopRec(), other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_only_registered_models_are_saved(tmp_path: Path) -> None:
    class MyKNN(KNN):
        pass

    with pytest.raises(InvalidParameterError, match="only the registered models"):
        reclib.save(MyKNN(), tmp_path / "mine")
    with pytest.raises(InvalidParameterError, match="must be a reclib model"):
        reclib.save({"not": "a model"}, tmp_path / "dict")
    assert not list(tmp_path.iterdir())


def test_registry_allowlist_matches_models() -> None:
    classes = model_classes()
    assert set(classes.values()) == set(MODELS.values())
    assert all(name == cls.__name__ for name, cls in classes.items())


def test_import_reclib_stays_light(tmp_path: Path) -> None:
    code = (
        "import sys, reclib; assert 'numpy' not in sys.modules, 'numpy imported'; "
        "assert callable(reclib.save) and callable(reclib.load)"
    )
    # The reclib this test session imports, whether installed or from the source tree.
    env = {**os.environ, "PYTHONPATH": str(Path(reclib.__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)


# --- bad files ---------------------------------------------------------------------------------

def test_missing_directory_or_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="the path does not exist"):
        reclib.load(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="is not a directory"):
        reclib.load(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"has no manifest\.json"):
        reclib.load(tmp_path / "empty")


def test_corrupt_manifest(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    text = (path / MANIFEST).read_text()
    (path / MANIFEST).write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match=r"is corrupt: not valid JSON .* at line"):
        reclib.load(path)

    (path / MANIFEST).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="not UTF-8"):
        reclib.load(path)

    _write_manifest(path, {"format": "something.else"})
    with pytest.raises(ModelFileError, match=r"`format` is 'something\.else', expected"):
        reclib.load(path)
    _write_manifest(path, [1, 2])
    with pytest.raises(ModelFileError, match="not a reclib model manifest"):
        reclib.load(path)


def test_newer_and_older_format_versions(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)

    _write_manifest(path, {**manifest, "format_version": 99, "reclib_version": "9.0.0"})
    with pytest.raises(ModelFileError, match=r"saved by reclib 9\.0\.0 .* upgrade reclib"):
        reclib.load(path)

    _write_manifest(path, {**manifest, "format_version": 0, "reclib_version": "0.0.1"})
    with pytest.raises(ModelFileError, match=r"reclib 0\.0\.1 .* can no longer read"):
        reclib.load(path)

    _write_manifest(path, {**manifest, "format_version": "1"})
    with pytest.raises(ModelFileError, match="expected an integer"):
        reclib.load(path)


def test_config_of_an_older_version(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)
    manifest["reclib_version"] = "0.0.9"
    manifest["config"]["params"]["weighting"] = "bm25"
    _write_manifest(path, manifest)
    with pytest.raises(ModelFileError, match=r"by reclib 0\.0\.9 does not fit .*weighting"):
        reclib.load(path)


@pytest.mark.parametrize(
    "name", ["Exploit", "os.system", "reclib.models.knn.KNN", "subprocess.Popen", None, 3]
)
def test_unknown_class_is_refused(name: object, zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    _write_manifest(path, {**_manifest(path), "class": name})
    with pytest.raises(ModelFileError, match=r"not a reclib model of this version.*known classes"):
        reclib.load(path)


def test_class_and_config_must_agree(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    _write_manifest(path, {**_manifest(path), "class": "PopRec"})
    with pytest.raises(ModelFileError, match="inconsistent: `class` is 'PopRec'"):
        reclib.load(path)


def test_tampered_array_is_refused(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    entry = _manifest(path)["arrays"]["model.data"]
    array = np.load(path / entry["file"])
    np.save(path / entry["file"], array * 2, allow_pickle=False)
    with pytest.raises(ModelFileError, match="does not match the SHA-256"):
        reclib.load(path)


def test_missing_array_file(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    (path / "model.indices.npy").unlink()
    with pytest.raises(ModelFileError, match=r"missing its array file 'model\.indices\.npy'"):
        reclib.load(path)

    path = _save_knn(tmp_path / "again", zoo_log)
    manifest = _manifest(path)
    del manifest["arrays"]["item_ids"]
    _write_manifest(path, manifest)
    with pytest.raises(ModelFileError, match=r"lists no array\(s\) \['item_ids'\]"):
        reclib.load(path)


def test_array_entry_must_match_its_file(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)

    bad_shape = json.loads(json.dumps(manifest))
    bad_shape["arrays"]["model.data"]["shape"] = [1]
    _write_manifest(path, bad_shape)
    with pytest.raises(ModelFileError, match=r"but manifest\.json says"):
        reclib.load(path)

    escape = json.loads(json.dumps(manifest))
    escape["arrays"]["model.data"]["file"] = "../model.data.npy"
    _write_manifest(path, escape)
    with pytest.raises(ModelFileError, match=r"must be stored in 'model\.data\.npy'"):
        reclib.load(path)


def test_pickled_object_array_is_never_loaded(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)
    # An object array can only be stored with pickle; give it a matching digest and dtype.
    np.save(path / "model.data.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    data = (path / "model.data.npy").read_bytes()
    manifest["arrays"]["model.data"].update(
        {"dtype": "|O", "shape": [1], "sha256": hashlib.sha256(data).hexdigest()}
    )
    _write_manifest(path, manifest)
    with pytest.raises(ModelFileError, match="object arrays would need pickle"):
        reclib.load(path)

    # Claiming a plain dtype does not help: np.load refuses the pickled payload.
    manifest["arrays"]["model.data"]["dtype"] = "<f8"
    _write_manifest(path, manifest)
    with pytest.raises(ModelFileError, match="cannot be read"):
        reclib.load(path)


def test_inconsistent_state_is_reported(zoo_log: pd.DataFrame, tmp_path: Path) -> None:
    path = _save_knn(tmp_path, zoo_log)
    manifest = _manifest(path)
    manifest["meta"]["user_dtype"] = "|O"
    _write_manifest(path, manifest)
    with pytest.raises(ModelFileError, match="incomplete or inconsistent state"):
        reclib.load(path)


# --- Spark -------------------------------------------------------------------------------------

@pytest.mark.spark
def test_model_fitted_on_spark_loads_on_pandas(
    spark, zoo_log: pd.DataFrame, tmp_path: Path
) -> None:
    spark_log = spark.createDataFrame(zoo_log)
    model = KNN(num_neighbours=5, shrink=1.0).fit(spark_log)
    on_spark = model.predict(spark_log, k=5).toPandas()

    loaded = reclib.load(reclib.save(model, tmp_path / "knn"))
    on_pandas = loaded.predict(zoo_log, k=5)

    key = ["user_idx", "relevance", "item_idx"]
    order = [True, False, True]
    expected = on_spark.sort_values(key, ascending=order).reset_index(drop=True)
    got = on_pandas.sort_values(key, ascending=order).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert len(got) == 5 * zoo_log["user_idx"].nunique()
