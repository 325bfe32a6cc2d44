# Extraction: the named arrays are exact copies of model.trainable_variables, with the homework shapes.
import numpy as np
import pytest

from hw5.deliver.report import console, paragraph, table
from hw5.homework.run import weight_lines
from hw5.models import build_part2_model
from hw5.weights import describe, extract_weights
from tests.helpers import assert_exact, report_section

PART2_SHAPES = {
    "conv/kernel": (3, 3, 1, 64), "conv/bias": (64,),
    "dense/kernel": (10816, 1024), "dense/bias": (1024,),
    "output/kernel": (1024, 10), "output/bias": (10,),
}


def test_extract_weights_names_and_shapes():
    weights = extract_weights(build_part2_model())
    assert {name: w.shape for name, w in weights.items()} == PART2_SHAPES
    assert list(weights) == list(PART2_SHAPES)  # trainable_variables order = layer order


@pytest.mark.training
def test_extract_weights_copies_trained_variables(part2):
    weights = extract_weights(part2.model)
    report_section(
        "p2-2",
        paragraph("The trained net's parameters, from <code>model.trainable_variables</code> by "
                  "<code>extract_weights</code>: each a NumPy copy named <i>layer/variable</i> (the layers and their "
                  "parameter counts are in Part 2 (1)'s <code>model.summary()</code>)."),
        console(weight_lines(weights)), key=f"{len(weights)} variables, {sum(w.size for w in weights.values()):,} "
                                            f"numbers", handin=True)
    report_section(
        "p2-2",
        table(["name", "shape", "dtype", "size", "first values"],
              [(n, s, d, f"{k:,}", " ".join(f"{v:+.4f}" for v in weights[n].ravel()[:3]) + " …")
               for n, s, d, k in describe(weights)],
              f"the trained Part-2 net's model.trainable_variables, copied to NumPy "
              f"({sum(w.size for w in weights.values()):,} numbers; each array checked bit for bit)"))
    for var, (name, array) in zip(part2.model.trainable_variables, weights.items(), strict=True):
        assert_exact(array, var.numpy(), f"extracted {name}")
        assert array.dtype == np.float32
    # copies, not views: editing them leaves the model alone
    weights["conv/bias"][:] = 123.0
    assert not (part2.model.trainable_variables[1].numpy() == 123.0).any()


@pytest.mark.parametrize("model, error, match", [
    (object(), TypeError, "model must be a Keras model"),
    (np.zeros(3), TypeError, "model must be a Keras model"),
])
def test_extract_weights_rejects_non_models(model, error, match):
    with pytest.raises(error, match=match):
        extract_weights(model)
