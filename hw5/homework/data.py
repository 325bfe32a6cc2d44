"""Step 1 — data: Fashion-MNIST from verified local files, never a partial dataset.

`load_fashion_mnist()` returns exactly what `keras.datasets.fashion_mnist.load_data()` returns:
``((x_train, y_train), (x_test, y_test))`` with uint8 images (N, 28, 28) and uint8 labels (N,),
N = 60000 / 10000.  The four original IDX files are looked for, in order, in

1. ``$HW5_DATA_DIR``;
2. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``);
3. Keras' cache ``$KERAS_HOME/datasets/fashion-mnist`` (default ``~/.keras``), then Keras' downloader.

A directory that holds any of the files is the one used, and all four must then pass the checks:
gzip intact, IDX header (magic, count, 28×28), exact length, and the pinned SHA-256 of the
*decompressed* bytes (Debian recompressed the .gz files, so hashing them would not work).
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
HOW_TO_GET = (
    "Install Debian's package with `sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist` "
    "(files land in /usr/share/datasets/fashion-mnist), or put the four original .gz files in a directory "
    "and set HW5_DATA_DIR to it."
)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # IDX: 0x0803 = ubyte 3-D, 0x0801 = ubyte 1-D


@dataclass(frozen=True)
class IdxFile:
    name: str     # file name, as published by Zalando and used by Keras and Debian
    magic: int
    count: int
    sha256: str   # of the decompressed bytes


FILES = (
    IdxFile("train-images-idx3-ubyte.gz", IMAGE_MAGIC, 60000,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    IdxFile("train-labels-idx1-ubyte.gz", LABEL_MAGIC, 60000,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    IdxFile("t10k-images-idx3-ubyte.gz", IMAGE_MAGIC, 10000,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    IdxFile("t10k-labels-idx1-ubyte.gz", LABEL_MAGIC, 10000,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
)


class DataError(RuntimeError):
    """The dataset is missing, truncated or not the original; the message says how to get it."""


@dataclass(frozen=True)
class DataSource:
    directory: Path
    origin: str                  # "HW5_DATA_DIR", "debian", "keras-cache" or "keras-download"
    sha256: dict[str, str]       # file name -> verified digest of the decompressed bytes


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"


def candidate_dirs() -> list[tuple[str, Path]]:
    """Where to look, in order."""
    found = []
    if os.environ.get("HW5_DATA_DIR"):
        found.append(("HW5_DATA_DIR", Path(os.environ["HW5_DATA_DIR"])))
    found += [("debian", DEBIAN_DIR), ("keras-cache", keras_cache_dir())]
    return found


def read_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Decompress and check one IDX file; uint8 array (count, 28, 28) or (count,)."""
    if not path.is_file():
        raise DataError(f"missing file {path}. {HOW_TO_GET}")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is not a complete gzip file ({exc}). {HOW_TO_GET}") from exc
    header = 16 if spec.magic == IMAGE_MAGIC else 8
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes). {HOW_TO_GET}")
    magic, count = struct.unpack(">II", raw[:8])
    dims = struct.unpack(">II", raw[8:16]) if spec.magic == IMAGE_MAGIC else ()
    if magic != spec.magic or count != spec.count or dims not in ((), (28, 28)):
        raise DataError(f"{path}: IDX header magic={magic} count={count} dims={dims}, expected "
                        f"magic={spec.magic} count={spec.count}"
                        f"{' dims=(28, 28)' if header == 16 else ''}. {HOW_TO_GET}")
    expected_len = header + spec.count * (784 if header == 16 else 1)
    if len(raw) != expected_len:
        raise DataError(f"{path}: {len(raw)} bytes after decompression, expected {expected_len} "
                        f"(truncated or padded). {HOW_TO_GET}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"{path}: SHA-256 {digest} differs from the original's {spec.sha256} "
                        f"(tampered or a different dataset). {HOW_TO_GET}")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header)
    return arr.reshape(spec.count, 28, 28) if header == 16 else arr.copy()


def _read_dir(origin: str, directory: Path):
    arrays = tuple(read_idx(directory / spec.name, spec) for spec in FILES)
    source = DataSource(directory, origin, {spec.name: spec.sha256 for spec in FILES})
    return arrays, source


def _keras_download() -> Path:
    import keras  # deferred: TensorFlow start-up is slow and the local paths need none of it

    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # no network, blocked host, ...: say how to get the data instead
        raise DataError(f"Fashion-MNIST not found locally and Keras could not download it ({exc}). "
                        f"{HOW_TO_GET}") from exc
    return keras_cache_dir()


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[np.ndarray, ...], DataSource]:
    for origin, directory in candidate_dirs():
        if any((directory / spec.name).exists() for spec in FILES):
            return _read_dir(origin, directory)
    return _read_dir("keras-download", _keras_download())


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
