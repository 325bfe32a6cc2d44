"""What `hw5 verify` costs on a net, measured: its Dense+ReLU form's width and depth, every export's file size,
and each engine's time to its answer.

`measure(name, model, x, epsilon, folder)` → one row (a dict): the Dense+ReLU form (hw5.convert.relu_only of
from_keras, sparse) — ReLUs, width and depth (relu_only.width_and_depth), unstable ReLUs on the ball (interval
bounds, hw5.convert.bounds) — the bytes of each export written to `folder` (ONNX, NNet, the Keras Dense file,
npz; a file whose estimate (hw5.convert.estimate) is past WRITE_LIMIT is not written, its estimate given
instead, marked ≈), and per engine (highs, omlt, gurobi, marabou) hw5.convert.robustness.robustness's answer and
its seconds from the start (the conversion, the engine's model, the queries to the answer), or why there is
none (refused with the reason, not installed, out of time). `markdown(rows)` and `html(rows)` lay them out.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

ENGINES = ("highs", "omlt", "gurobi", "marabou")
FORMATS = ("onnx", "nnet", "keras", "npz")
WRITE_LIMIT = 512 * 2 ** 20   # bytes: a larger export is estimated, not written (the table's run stays short)


def machine() -> str:
    """This machine in one line: CPU model, cores, memory, Python; with the UTC date."""
    with open("/proc/cpuinfo") as fh:
        cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                   platform.processor() or "unknown CPU")
    with open("/proc/meminfo") as fh:
        mem = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal"))
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 2 ** 20:.0f} GiB, Python {platform.python_version()}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def measure(name: str, model, x, epsilon: float, folder, engines=ENGINES, timeout: float = 600.0,
            say=None, known: dict | None = None) -> dict:
    """The module's row for one net; `known`: engine → (answer, seconds, note) already measured on this net,
    image and ε (not asked again)."""
    from hw5.convert.bounds import interval_bounds
    from hw5.convert.engines import missing
    from hw5.convert.estimate import FILES
    from hw5.convert.export import to_keras, to_nnet, to_npz, to_onnx
    from hw5.convert.relu_only import logits_model, width_and_depth
    from hw5.convert.robustness import TooLarge, dense_relu, robustness

    say = say or (lambda msg: None)
    folder = Path(folder)
    net, relus = dense_relu(logits_model(model))
    width, depth = width_and_depth(net)
    x64 = np.asarray(x, np.float64).ravel()
    box = np.maximum(x64 - epsilon, 0), np.minimum(x64 + epsilon, 1)
    row = dict(net=name, inputs=int(x64.size), epsilon=float(epsilon), relus=relus, width=width, depth=depth,
               unstable=interval_bounds(net, *box).unstable, files={}, engines={})
    writers = {"onnx": to_onnx, "nnet": to_nnet, "keras": to_keras, "npz": to_npz}
    for fmt in FORMATS:
        estimated = FILES[fmt](net)
        if estimated > WRITE_LIMIT:
            row["files"][fmt] = (estimated, True)
            continue
        path = writers[fmt](net, folder / f"{name}.{fmt}")
        row["files"][fmt] = (sum(p.stat().st_size for p in folder.glob(f"{name}.{fmt}*")), False)
        path.unlink()
    for engine in engines:
        if engine in (known or {}):
            row["engines"][engine] = known[engine]
            continue
        why = missing(engine)
        if why:
            row["engines"][engine] = ("not installed", None, why)
            continue
        say(f"{name}: {engine}")
        started = time.perf_counter()
        try:
            v = robustness(model, x, epsilon, engine=engine, timeout=timeout)
            row["engines"][engine] = (v.answer, v.seconds, v.note)
        except TooLarge as exc:
            row["engines"][engine] = ("refused", time.perf_counter() - started, str(exc))
    return row


def _size(n_bytes: int, estimated: bool) -> str:
    from hw5.convert.estimate import size

    return ("≈ " if estimated else "") + size(n_bytes)


def cells(row: dict) -> list[str]:
    """The row's table cells: net, inputs, ε, ReLUs (unstable), width, depth, each file, each engine."""
    out = [row["net"], f"{row['inputs']:,}", f"{row['epsilon']:g}", f"{row['relus']:,} ({row['unstable']:,})",
           f"{row['width']:,}", str(row["depth"])]
    out += [_size(*row["files"][fmt]) for fmt in FORMATS]
    for engine in ENGINES:
        answer, seconds, note = row["engines"].get(engine, ("not run", None, ""))
        if answer == "refused":
            reason = "licence" if "licence" in note else "unstable ReLUs" if "unstable" in note else "memory"
            out.append(f"refused ({reason}), {seconds:.1f} s")
        else:
            out.append(answer + (f", {seconds:.1f} s" if seconds is not None else ""))
    return out


HEAD = ["net", "inputs", "ε", "ReLUs (unstable on the ball)", "width", "depth", "ONNX", "NNet", "Keras", "npz",
        *(f"{e}: answer, time" for e in ENGINES)]


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + " --- |" * len(HEAD)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def html(rows: list[dict], caption: str) -> str:
    """Two tables, each the page's width: the sizes (net … npz), then each engine's answer and time."""
    from hw5.deliver.figures import table

    split = len(HEAD) - len(ENGINES)
    sizes = table(HEAD[:split], [cells(row)[:split] for row in rows], caption + ": the Dense+ReLU form and its files")
    times = table(["net", *HEAD[split:]], [[row["net"], *cells(row)[split:]] for row in rows],
                  caption + ": each engine's answer and its time from the start")
    return sizes + times
