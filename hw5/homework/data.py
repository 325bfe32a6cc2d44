"""Step 1 — data: Fashion-MNIST from verified local files, never a partial dataset.

`load_fashion_mnist()` returns what `keras.datasets.fashion_mnist.load_data()` returns: uint8 images
(N, 28, 28) and labels (N,), N = 60000 / 10000. The four IDX files are looked for in $HW5_DATA_DIR, then
/usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), then Keras' cache, then Keras' downloader;
each must be a whole gzip with the right IDX header and length, and the pinned SHA-256 of its decompressed bytes.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = ("Install Debian's package with `sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist`, "
              "or put the four original .gz files in a directory and set HW5_DATA_DIR to it.")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {  # name -> (IDX magic: 2051 images, 2049 labels; count; SHA-256 of the decompressed bytes)
    "train-images-idx3-ubyte.gz": (2051, 60000, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (2049, 60000, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (2051, 10000, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (2049, 10000, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


class DataError(RuntimeError):
    """The dataset is missing, truncated or not the original; the message says how to get it."""


@dataclass(frozen=True)
class DataSource:
    directory: Path
    origin: str                  # "HW5_DATA_DIR", "debian", "keras-cache" or "keras-download"
    sha256: dict[str, str]       # file name -> verified digest of the decompressed bytes


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    """Decompress and check one IDX file; uint8 array (count, 28, 28) or (count,)."""
    magic_wanted, count_wanted, sha256 = FILES[path.name]
    if not path.is_file():
        raise DataError(f"missing file {path}. {HOW_TO_GET}")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is not a complete gzip file ({exc}). {HOW_TO_GET}") from exc
    header = 16 if magic_wanted == 2051 else 8
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes). {HOW_TO_GET}")
    magic, count, *dims = struct.unpack(">IIII" if header == 16 else ">II", raw[:header])
    if (magic, count) != (magic_wanted, count_wanted) or dims not in ([], [28, 28]):
        raise DataError(f"{path}: IDX header magic={magic} count={count} dims={tuple(dims)}, expected "
                        f"magic={magic_wanted} count={count_wanted}{' dims=(28, 28)' * (header == 16)}. {HOW_TO_GET}")
    if len(raw) != (expected := header + count * (784 if header == 16 else 1)):
        raise DataError(f"{path}: {len(raw)} bytes after decompression, expected {expected} (truncated or padded). "
                        f"{HOW_TO_GET}")
    if (digest := hashlib.sha256(raw).hexdigest()) != sha256:
        raise DataError(f"{path}: SHA-256 {digest} differs from the original's {sha256} "
                        f"(tampered or a different dataset). {HOW_TO_GET}")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header)
    return arr.reshape(count, 28, 28) if header == 16 else arr.copy()


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[np.ndarray, ...], DataSource]:
    places = [("HW5_DATA_DIR", Path(os.environ["HW5_DATA_DIR"]))] if os.environ.get("HW5_DATA_DIR") else []
    places += [("debian", DEBIAN_DIR), ("keras-cache", keras_cache_dir())]
    origin, directory = next(((o, d) for o, d in places if any((d / name).exists() for name in FILES)),
                             ("keras-download", None))
    if directory is None:
        import keras  # deferred: TensorFlow's start-up is slow and the local paths need none of it

        try:
            keras.datasets.fashion_mnist.load_data()
        except Exception as exc:  # no network, blocked host, ...: say how to get the data instead
            raise DataError(f"Fashion-MNIST not found locally and Keras could not download it ({exc}). "
                            f"{HOW_TO_GET}") from exc
        directory = keras_cache_dir()
    arrays = tuple(read_idx(directory / name) for name in FILES)
    return arrays, DataSource(directory, origin, {name: sha for name, (_, _, sha) in FILES.items()})


def forget_loaded() -> None:
    """Drop the loaded arrays: the next load reads (and verifies) the files again."""
    _load.cache_clear()


def load_fashion_mnist():
    """((x_train, y_train), (x_test, y_test)) as uint8 arrays, like Keras' loader (fresh copies)."""
    (x_train, y_train, x_test, y_test), _ = _load()
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def data_source() -> DataSource:
    """Which directory the data came from and the verified digests (for the report)."""
    return _load()[1]


def preprocess(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 (N, 28, 28) -> `dtype` (N, 28, 28, 1) in [0, 1]: the input both networks take."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be uint8 of shape (N, 28, 28), got {images.dtype} {images.shape}")
    return (images.astype(dtype) / 255)[..., None]
