# Data: the loader returns exactly Keras' arrays, from verified files, or a clear error — never partial data.
# Corruption tests work on temporary copies of the files, never on the real ones.
import functools
import gzip
import shutil

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from hw5.data import FILES, DataError, load_fashion_mnist
from hw5.deliver.report import environment, section, table
from hw5.homework import data
from tests.helpers import report_section


@pytest.fixture
def fresh_loader(monkeypatch):
    # each test sees a loader with no memory of earlier loads, and leaves none behind
    monkeypatch.delenv("HW5_DATA_DIR", raising=False)
    data.forget_loaded()
    yield
    data.forget_loaded()


@functools.cache
def _source_directory():
    # where the verified files are, found once a session (finding them decompresses and hashes all four)
    data.forget_loaded()
    return data.data_source().directory


@pytest.fixture
def data_copy(fresh_loader, tmp_path):
    # a private copy of the four verified files (the loader forgets where it found them)
    source = _source_directory()
    for name in FILES:
        shutil.copy(source / name, tmp_path / name)
    data.forget_loaded()
    return tmp_path


@functools.cache
def _decompressed(gz: bytes) -> bytes:
    return gzip.decompress(gz)   # the same original file is edited by several tests: decompress it once


def rewrite(path, edit):
    # decompress, edit the raw bytes, recompress: a well-formed gzip with different content (stored, not
    # deflated, compresslevel=0: the loader reads it the same, and 47 MB are not worth compressing here)
    raw = bytearray(_decompressed(path.read_bytes()))
    path.write_bytes(gzip.compress(bytes(edit(raw)), compresslevel=0))


def test_load_fashion_mnist_shapes_and_dtypes(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    source = data.data_source()
    report_section(
        "env",
        section("Machine and versions", table(["", ""], [(k, v) for k, v in environment().items()
                                                         if not k.startswith("SHA-256")], cls="hw5-env")),
        section("Data: Fashion-MNIST, verified",
                table(["file", "SHA-256 of the decompressed bytes (pinned, checked)"], source.sha256.items(),
                      f"read from {source.directory} ({source.origin}); train {x_train.shape}, test {x_test.shape}")),
        key=f"{source.origin}, 4 files SHA-256 verified")
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == ((60000, 28, 28), (60000,),
                                                                         (10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class
    assert_array_equal(np.bincount(y_train), np.full(10, 6000))
    assert_array_equal(np.bincount(y_test), np.full(10, 1000))


def test_load_fashion_mnist_equals_keras_loader(fresh_loader, data_copy, tmp_path_factory, monkeypatch):
    # Keras' own loader, pointed at a cache that holds the same files, must return identical arrays
    import keras

    home = tmp_path_factory.mktemp("keras_home")
    shutil.copytree(data_copy, home / "datasets" / "fashion-mnist")
    # Keras reads KERAS_HOME at import time, so point its get_file at our copy instead
    monkeypatch.setattr(keras.src.datasets.fashion_mnist, "get_file",
                        lambda fname, origin, cache_subdir: str(home / cache_subdir / fname))
    (ours_train, ours_test), (keras_train, keras_test) = load_fashion_mnist(), keras.datasets.fashion_mnist.load_data()
    for ours, theirs in zip((*ours_train, *ours_test), (*keras_train, *keras_test), strict=True):
        assert_array_equal(ours, theirs, strict=True)


def test_load_returns_fresh_copies(fresh_loader):
    (x_train, _), _ = load_fashion_mnist()
    x_train[0] = 0
    (again, _), _ = load_fashion_mnist()
    assert again[0].any()


def test_hw5_data_dir_is_searched_first(fresh_loader, data_copy, monkeypatch):
    monkeypatch.setenv("HW5_DATA_DIR", str(data_copy))
    load_fashion_mnist()
    assert data.data_source().origin == "HW5_DATA_DIR"
    assert data.data_source().directory == data_copy


@pytest.mark.parametrize("name", list(FILES))
def test_truncated_file_is_refused(fresh_loader, data_copy, monkeypatch, name):
    path = data_copy / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setenv("HW5_DATA_DIR", str(data_copy))
    with pytest.raises(DataError, match=rf"{name}.*not a complete gzip.*apt-get install -y dataset-fashion-mnist"):
        load_fashion_mnist()


def test_tampered_pixel_is_refused(fresh_loader, data_copy, monkeypatch):
    def flip(raw):
        raw[16 + 1234] ^= 0xFF
        return raw

    rewrite(data_copy / "t10k-images-idx3-ubyte.gz", flip)
    monkeypatch.setenv("HW5_DATA_DIR", str(data_copy))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: SHA-256 .* differs.*HW5_DATA_DIR"):
        load_fashion_mnist()


@pytest.mark.parametrize("edit, match", [
    (lambda raw: raw[:-784], "bytes after decompression"),                  # one image short
    (lambda raw: raw[:3] + b"\x01" + raw[4:], "IDX header magic=2049"),     # labels' magic on images
    (lambda raw: raw[:4] + (59999).to_bytes(4, "big") + raw[8:], "count=59999"),
    (lambda raw: raw[:8] + (27).to_bytes(4, "big") + raw[12:], r"dims=\(27, 28\)"),
    (lambda raw: raw[:10], "truncated IDX header"),
])
def test_bad_idx_header_or_length_is_refused(fresh_loader, data_copy, monkeypatch, edit, match):
    rewrite(data_copy / "train-images-idx3-ubyte.gz", edit)
    monkeypatch.setenv("HW5_DATA_DIR", str(data_copy))
    with pytest.raises(DataError, match=rf"train-images-idx3-ubyte.gz.*{match}"):
        load_fashion_mnist()


def test_missing_file_is_refused(fresh_loader, data_copy, monkeypatch):
    (data_copy / "train-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("HW5_DATA_DIR", str(data_copy))
    with pytest.raises(DataError, match=r"missing file .*train-labels-idx1-ubyte.gz.*apt-get"):
        load_fashion_mnist()


def test_no_data_anywhere_says_how_to_get_it(fresh_loader, tmp_path, monkeypatch):
    # no HW5_DATA_DIR, no Debian package, an empty Keras cache, and Keras' download fails
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DataError, match=r"could not download it \(network unreachable\).*apt-get.*HW5_DATA_DIR"):
        load_fashion_mnist()


def test_keras_cache_is_used_when_nothing_else_is_there(fresh_loader, data_copy, tmp_path, monkeypatch):
    keras_home = tmp_path / "keras"
    shutil.copytree(data_copy, keras_home / "datasets" / "fashion-mnist")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    load_fashion_mnist()
    assert data.data_source().origin == "keras-cache"


@pytest.mark.parametrize("images, error", [
    (np.zeros((2, 28, 28), np.float32), "uint8"), (np.zeros((2, 28), np.uint8), r"\(N, 28, 28\)"),
])
def test_preprocess_rejects_bad_input(images, error):
    with pytest.raises(ValueError, match=f"images must be.*{error}"):
        data.preprocess(images)


def test_preprocess_scales_to_unit_interval():
    x = data.preprocess(np.array([[[0, 255] * 14] * 28], np.uint8))
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
