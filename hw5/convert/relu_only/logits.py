"""`logits_model(model)`: the Keras model that relu_only(from_keras(model)) equals — the model without its softmax.

A Sequential model is copied layer by layer (same weights); a functional one gets a new output: the tensor its
last softmax reads, or a linear copy of the last layer that has activation="softmax" (same weights) called on
that layer's input. Identities at inference (Dropout, noise) after the softmax are looked through.
"""
from __future__ import annotations

# identities at inference: after a softmax they would hide it
AFTER_SOFTMAX = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                 "AlphaDropout", "ActivityRegularization")


def _is_softmax(layer) -> bool:
    kind = type(layer).__name__
    return kind == "Softmax" or (kind == "Activation" and layer.get_config().get("activation") == "softmax")


def logits_model(model):
    """A model computing `model`'s logits: a last Softmax (or softmax Activation) left out, a last layer's
    activation="softmax" made linear. A model ending otherwise computes what `model` does. What
    `relu_only(from_keras(model))` computes."""
    if type(model).__name__ == "Sequential":
        return _chain(model)
    import keras

    tensor = model.outputs[0]
    while True:
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if type(layer).__name__ not in AFTER_SOFTMAX:
            break
        tensor = node.input_tensors[0]
    if _is_softmax(layer):
        logits = node.input_tensors[0]
    elif getattr(layer, "get_config", None) and layer.get_config().get("activation") == "softmax":
        config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_logits"}
        copy = type(layer).from_config(config)
        logits = copy(node.input_tensors[0])
        copy.set_weights(layer.get_weights())
    else:
        logits = model.outputs[0]
    if any(logits is t for t in model.inputs):   # a model that was only its softmax: the input is the logits
        logits = keras.layers.Identity(dtype=model.inputs[0].dtype)(logits)
    return keras.Model(model.inputs[0], logits)


def _chain(model):
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    while len(layers) > 1 and type(layers[-1]).__name__ in AFTER_SOFTMAX:
        layers = layers[:-1]
    configs = [layer.get_config() for layer in layers]
    last = configs[-1] if configs else {}
    if _is_softmax(layers[-1]):
        layers, configs = layers[:-1], configs[:-1]
    elif last.get("activation") == "softmax":
        configs[-1] = {**last, "activation": "linear"}
    copies = [type(layer).from_config(cfg) for layer, cfg in zip(layers, configs, strict=True)]
    # a model that was only its softmax has the identity as logits (Keras cannot call a Sequential of no layers)
    copy = keras.Sequential([keras.Input(model.input_shape[1:], dtype=model.inputs[0].dtype)]
                            + (copies or [keras.layers.Identity(dtype=model.inputs[0].dtype)]))
    for mine, theirs in zip(copies, layers, strict=True):
        mine.set_weights(theirs.get_weights())
    return copy
