"""The measurements of `hw5 verify` for docs/exports.md: for the Part-1 CNN and the two CIFAR-sized CNNs
(hw5.deliver.cifar_nets' chain and residual), the Dense+ReLU form's width and depth, the file size of each
export, and each engine's time to its answer (hw5.deliver.verify_table.measure), as a Markdown table headed by
the machine and the date.

    python tools/verify_measurements.py [--epsilon E] [--engines highs,omlt,gurobi,marabou] [--timeout S]
                                        [--part1 trained|seeded]

The Part-1 CNN is the homework's trained model (hw5.deliver.cache.train_part(1): the cache, or training it)
with --part1 trained (the default), asked about Fashion-MNIST test image 0; with --part1 seeded it is
hw5.homework.models.build_part1_model with Keras' seeded initial weights. The CIFAR-sized nets have seeded
weights (no CIFAR-10 data here) and are asked about hw5.deliver.cifar_nets.clear_image's image.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def nets(part1: str):
    """[(name, Keras model, image)] for the table."""
    import keras

    from hw5.deliver import cifar_nets
    from hw5.homework.data import load_fashion_mnist, preprocess

    _, (x_test, _) = load_fashion_mnist()
    if part1 == "trained":
        from hw5.deliver.cache import train_part

        model = train_part(1, progress=lambda m: print(f"[part1] {m}", file=sys.stderr)).model
    else:
        from hw5.homework.models import build_part1_model

        keras.utils.set_random_seed(0)
        model = build_part1_model()
    out = [(f"Part-1 CNN ({part1})", model, preprocess(x_test[:1])[0])]
    for name in ("chain", "residual"):
        model = cifar_nets.NETS[name](0)
        out.append((f"CIFAR {name} (seeded)", model, cifar_nets.clear_image(model)[1]))
    return out


def main(argv=None) -> int:
    from hw5.deliver.verify_table import ENGINES, machine, markdown, measure

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epsilon", type=float, default=0.004, help="the L∞ radius for every net (default 0.004)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated (default: all four)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for one engine's queries (default 600)")
    p.add_argument("--part1", choices=("trained", "seeded"), default="trained")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hw5-measure-") as folder:
        for name, model, x in nets(args.part1):
            rows.append(measure(name, model, x, args.epsilon, Path(folder), args.engines.split(","), args.timeout,
                                say=lambda m: print(f"[measure] {m}", file=sys.stderr, flush=True)))
    print(f"Measured on {machine()}; ε = {args.epsilon:g}, timeout {args.timeout:g} s an engine.\n")
    print(markdown(rows))
    for row in rows:
        for engine, (answer, _, note) in row["engines"].items():
            if note:
                print(f"\n- {row['net']}, {engine}: {answer}: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
