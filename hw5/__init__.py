"""hw5 — CS/DS 541 Homework 5 as a tested package, in three layers whose imports point one way only:

    hw5/homework/   (a) the homework's steps, exactly what the hand-in script holds:
                        kernels → data → models → training → weights → geometry → toeplitz → forward → compare
                        → run
    hw5/convert/    (b) the general converter: any supported Keras CNN → an explicit-matrix network
    hw5/deliver/    (c) evidence and delivery: cache, report, benchmarks, hand-in, the `hw5` command

hw5.data, hw5.models, hw5.cache, hw5.weights, hw5.toeplitz, hw5.numpy_net and hw5.compare are the public
names (facades over the layers); tests/test_structure.py keeps the arrows pointing down.
"""
import sys

from hw5.homework.kernels import FirstImportQuiet

# TensorFlow's C++ start-up log reads like errors. Importing hw5.homework.kernels silences its logged lines
# (TF_CPP_MIN_LOG_LEVEL, unless set); the notices it writes before its logging exists (oneDNN's, absl's) are
# dropped from its first import, wherever that happens
if "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, FirstImportQuiet("tensorflow"))

__version__ = "0.1.0"
