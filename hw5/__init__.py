"""hw5 — CS/DS 541 Homework 5 as a tested package.

data → models → training (+ cache) → weights → toeplitz → numpy_net → compare → report
"""
__version__ = "0.1.0"
