"""`hw5.data`, public API: Fashion-MNIST, loaded from verified files (step 1). The code lives in hw5.homework.data."""
from hw5.homework.data import (
                               CLASS_NAMES,
                               DEBIAN_DIR,
                               FILES,
                               HOW_TO_GET,
                               DataError,
                               DataSource,
                               data_source,
                               keras_cache_dir,
                               load_fashion_mnist,
                               preprocess,
                               read_idx,
)

__all__ = ["CLASS_NAMES", "DEBIAN_DIR", "FILES", "HOW_TO_GET", "DataError", "DataSource", "data_source",
           "keras_cache_dir", "load_fashion_mnist", "preprocess", "read_idx"]
