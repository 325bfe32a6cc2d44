"""Keras layers with `data_format="channels_first"`: the channels-last translation, its input and output
re-indexed — one rule for every layer that has a data_format (convolutions, pooling, padding, cropping,
upsampling, Flatten, spatial dropout).

A channels-first grid (C, *spatial) is held as the model holds it, row-major; the channels-last grid
(*spatial, C) of the same tensor reads it through the permutation

    into = arange(n).reshape(C, *spatial) moved to (*spatial, C), flattened:   x_last = x_first[:, into]

and a channels-last output (*spatial', C') is handed on channels-first through `back` (the same move, the
other way): y_first = y_last[:, back]. Nothing is computed twice — the permutations go into the layers the
channels-last translation made:

    Dense (x @ W + b)    reading x_first:  W[argsort(into)] (its rows re-ordered); handing on y_first:
                         W[:, back], b[back] (its columns)
    MaxPool / WindowMax  the window indices mapped through `into`, the windows re-ordered by `back` (a MaxPool
                         becomes the WindowMax of its windows)
    the activations after the last of those (`activation=`): elementwise, or over the grid's last axis
                         (softmax) — given the channels-first grid, so a softmax runs over the axis Keras' does
    no layer (Flatten, dropout)  one Gather of into[back] (Flatten: `into` alone — Keras flattens a
                         channels-first tensor channels-last), or nothing when that is the identity
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hw5.convert.gathers import Gather, WindowMax, real_first
from hw5.convert.layers import Dense, MaxPool, pool_windows
from hw5.convert.registry import Source, Translation

CHANNELS_FIRST = "channels_first"


def to_last(shape: tuple) -> np.ndarray:
    """into: channels-last position k of the channels-first grid `shape` (C, *spatial) reads position into[k]."""
    return np.moveaxis(np.arange(math.prod(shape)).reshape(shape), 0, -1).ravel()


def to_first(shape: tuple) -> np.ndarray:
    """back: channels-first position k of the channels-last grid `shape` (*spatial, C) reads position back[k]."""
    return np.moveaxis(np.arange(math.prod(shape)).reshape(shape), -1, 0).ravel()


def first_grid(shape: tuple) -> tuple:
    return (shape[-1], *shape[:-1])


def _windows(layer) -> np.ndarray:
    return pool_windows(layer) if isinstance(layer, MaxPool) else layer.windows


def _reads(layer, into: np.ndarray):
    """`layer` reading the channels-first vector instead of the channels-last one."""
    if isinstance(layer, Dense):
        return replace(layer, W=layer.W[np.argsort(into)])
    windows = _windows(layer)
    return WindowMax(real_first(np.where(windows >= 0, into[np.maximum(windows, 0)], -1)), layer.name,
                     layer.out_shape)


def _hands_on(layer, back: np.ndarray, grid: tuple):
    """`layer` giving its output channels-first (the grid `grid`)."""
    if isinstance(layer, Dense):
        return replace(layer, W=layer.W[:, back], b=layer.b[back], out_shape=grid)
    return WindowMax(_windows(layer)[back], layer.name, grid)


def channels_first(translation, src: Source) -> Translation:
    """The translation of a channels-first layer: `translation` (a channels-last one) re-indexed (the module)."""
    config = {**src.config, "data_format": "channels_last"}
    shape = tuple(src.shape)
    if len(shape) < 2:                      # a vector has no channel axis to move
        return translation(replace(src, config=config))
    last = (*shape[1:], shape[0])
    layers, out = translation(replace(src, config=config, shape=last, shapes=(last, *src.shapes[1:])))
    out = tuple(out)
    into, back = to_last(shape), (to_first(out) if len(out) >= 2 else None)
    grid = first_grid(out) if back is not None else out
    moves = [k for k, layer in enumerate(layers) if isinstance(layer, (Dense, MaxPool, WindowMax))]
    if not moves:
        if layers:
            raise src.refuse(f"channels_first: its translation ({type(layers[0]).__name__}) has no matrix or "
                             f"window to re-index")
        index = into if back is None else into[back]
        if np.array_equal(index, np.arange(index.size)):
            return [], grid
        return [Gather(index, src.name, grid)], grid
    after = [layer for layer in layers[moves[-1] + 1:] if any(isinstance(v, np.ndarray) for v in vars(layer).values())]
    if moves[0] != 0 or after:
        odd = layers[0] if moves[0] != 0 else after[0]
        raise src.refuse(f"channels_first: its {type(odd).__name__} layer cannot be re-indexed")
    layers = list(layers)
    layers[0] = _reads(layers[0], into)
    if back is not None:
        layers[moves[-1]] = _hands_on(layers[moves[-1]], back, grid)
        for k in range(moves[-1] + 1, len(layers)):
            layers[k] = replace(layers[k], out_shape=grid)
    return layers, grid
