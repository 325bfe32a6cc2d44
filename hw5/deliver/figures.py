"""The report's building blocks: HTML pieces (tables, code listings) and matplotlib figures inlined as PNG.

Every function returns an HTML string that needs nothing outside itself (styles inline or in report.css,
images as data URIs), so the report stays one self-contained file that Chromium prints as it is.
"""
from __future__ import annotations

import base64
import html
import inspect
import io
import os
import re

import numpy as np

# ---- HTML pieces -------------------------------------------------------------------------------------

def esc(value) -> str:
    return html.escape(str(value))


def table(header, rows, caption: str | None = None, cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table class="hw5-table {cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def pre(text: str, cls: str = "") -> str:
    return f'<pre class="hw5-pre {cls}">{esc(text)}</pre>'


def console(lines, title: str = "What the script prints") -> str:
    """Lines the hand-in script prints, as a terminal shows them: Keras' bar done in green, the rest in grey."""
    text = esc("\n".join(lines))
    text = re.sub("━+", lambda m: f'<span class="hw5-bar-done">{m[0]}</span>', text)
    text = re.sub("─+", lambda m: f'<span class="hw5-bar-rest">{"━" * len(m[0])}</span>', text)
    return f'<div class="hw5-block"><h3>{esc(title)}</h3><pre class="hw5-pre hw5-console">{text}</pre></div>'


def section(title: str, *parts: str) -> str:
    """A titled block inside a homework item's section."""
    return f'<div class="hw5-block"><h3>{esc(title)}</h3>{"".join(parts)}</div>'


def paragraph(text_html: str) -> str:
    return f"<p>{text_html}</p>"


def code(*objects) -> str:
    """The real source of functions/classes (inspect.getsource), syntax-highlighted by Pygments."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    parts = []
    for obj in objects:
        source = inspect.getsource(obj)
        where = f"{inspect.getmodule(obj).__name__}.{obj.__qualname__}"
        body = highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=True, style="default"))
        parts.append(f'<div class="hw5-code"><div class="hw5-code-name">{esc(where)}</div>'
                     f'<pre>{body}</pre></div>')
    return "".join(parts)


def figure(fig, alt: str, cls: str = "") -> str:
    """A matplotlib figure as an inline PNG <img> (closes the figure)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img class="hw5-figure {cls}" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9})
    return plt


def epoch_table(log) -> str:
    """The training log at every test probe (each epoch's end, and inside it when fit had probes > 1): train
    loss/accuracy (Keras' running means over the epoch so far), test loss/accuracy, cumulative training seconds."""
    rows = log.probes or log.epochs
    inside = any(p["epoch"] != int(p["epoch"]) for p in rows)
    caption = "per epoch" if not inside else f"{len(rows) // len(log.epochs)} test probes an epoch"
    first = next((p for p in rows if p["test_accuracy"] >= log.target), None)
    mark = lambda p: f" (first ≥ {log.target:.0%})" if inside and p is first else ""  # noqa: E731
    return table(["epoch", "train loss", "train accuracy", "test loss", "test accuracy", "training s (cum.)"],
                 [(f"{p['epoch']:g}", f"{p['loss']:.4f}", f"{p['accuracy']:.4f}", f"{p['test_loss']:.4f}",
                   f"{p['test_accuracy']:.4f}{mark(p)}", f"{p['train_seconds']:.1f}") for p in rows], caption)


def model_summary(model, line_length: int = 92) -> str:
    """Keras' own model.summary() text, complete (every column), as printed to a wide terminal.

    Keras draws the table with rich, which crops it to $COLUMNS (80 when there is no terminal): the Param #
    column would be cut off, so COLUMNS is widened while it prints.
    """
    lines, before = [], os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(line_length + 4)
    try:
        model.summary(print_fn=lambda line, **kw: lines.append(line), line_length=line_length)
    finally:
        if before is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(lines)


# ---- figures -----------------------------------------------------------------------------------------

def training_curves(log) -> str:
    plt = _plt()
    fig = plt.figure(figsize=(8, 4.6))
    a, b, c = fig.add_subplot(2, 2, 1), fig.add_subplot(2, 2, 2), fig.add_subplot(2, 1, 2)
    steps = [u["update"] for u in log.updates]
    a.plot(steps, [u["loss"] for u in log.updates], ".-")
    a.set_xlabel("gradient update"), a.set_ylabel("batch loss"), a.set_title("loss, first updates")
    b.plot(steps, [u["accuracy"] for u in log.updates], ".-", color="tab:orange")
    b.set_xlabel("gradient update"), b.set_ylabel("batch accuracy"), b.set_title("accuracy, first updates")
    rows = log.probes or log.epochs
    epochs = [p["epoch"] for p in rows]
    c.plot(epochs, [p["accuracy"] for p in rows], "o-", label="train (running)")
    c.plot(epochs, [p["test_accuracy"] for p in rows], "s-", label="test")
    c.axhline(log.target, color="grey", ls="--", label=f"{log.target:.0%} bar")
    c.set_xlabel("epoch"), c.set_ylabel("accuracy"), c.set_title("at each test probe"), c.legend(fontsize=7)
    c.set_xticks(epochs)
    fig.tight_layout()
    return figure(fig, "training curves")


def image_figure(image, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6, 1.6))
    ax.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r")
    ax.set_title(title, fontsize=8), ax.axis("off")
    return figure(fig, title, "hw5-small")


def toeplitz_figure(kernel, W, rows: int = 60, out_cols: int = 4) -> str:
    """The trained 3×3 kernels and a crop of their Toeplitz matrix: each column holds one kernel's 9
    weights at the rows of the pixels its output neuron sees, everything else is 0."""
    plt = _plt()
    fig = plt.figure(figsize=(9, 2.3))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 3.2])
    kernels = fig.add_subplot(grid[0])
    k = kernel[:, :, 0, :8]                                     # the first 8 of the 64 trained filters
    kernels.imshow(np.concatenate([np.pad(k[:, :, i], 1, constant_values=np.nan) for i in range(8)], 1),
                   cmap="coolwarm", vmin=-abs(k).max(), vmax=abs(k).max())
    kernels.set_title("trained filters 0–7 (3×3)"), kernels.axis("off")
    crop = fig.add_subplot(grid[1])
    c_out = kernel.shape[3]
    cols = [j * c_out + c for j in range(out_cols) for c in range(2)]  # filters 0, 1 at output columns 0..3
    block = W[:rows, cols]
    shown = np.where(block == 0, np.nan, block)
    crop.imshow(shown.T, aspect="auto", cmap="coolwarm", vmin=-abs(k).max(), vmax=abs(k).max(),
                interpolation="nearest")
    crop.set_yticks(range(len(cols)), [f"(0,{j},{c})" for j in range(out_cols) for c in range(2)], fontsize=6)
    crop.set_xlabel(f"input pixel (row of W), 0–{rows - 1}; white = 0")
    crop.set_ylabel("output neuron (h,w,c)")
    crop.set_title("W (transposed crop): each neuron's column holds its filter's 9 weights, 3 pixels × 3 rows")
    fig.tight_layout()
    return figure(fig, "trained kernels and their Toeplitz matrix")


def probabilities_figure(tf_probs, np_probs, class_names) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 1.8))
    x = np.arange(len(class_names))
    ax.bar(x - 0.2, tf_probs, 0.4, label="TensorFlow"), ax.bar(x + 0.2, np_probs, 0.4, label="NumPy")
    ax.set_xticks(x, class_names, rotation=20, fontsize=7), ax.set_yscale("log"), ax.set_ylim(1e-12, 2)
    ax.set_ylabel("softmax probability"), ax.legend(fontsize=7)
    return figure(fig, "TF vs NumPy probabilities")


def bench_figure(summary_rows, group: str, peak_gflops: float | None) -> str:
    """Time, multiply-adds and GFLOP/s of each path of one benchmark group, side by side (horizontal bars,
    so that path names never collide): the dense path does ~87× the work at a much higher rate."""
    plt = _plt()
    rows = [r for r in summary_rows if r["group"] == group and r.get("macs")]
    names = [r["path"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(9, 0.45 * len(rows) + 0.9), sharey=True)
    panels = [("mean time, ms", [r["mean_s"] * 1e3 for r in rows]),
              ("multiply-adds, millions", [r["macs"] / 1e6 for r in rows]),
              ("GFLOP/s", [r["gflops"] for r in rows])]
    for ax, (label, values) in zip(axes, panels, strict=True):
        ax.barh(names, values, color="tab:blue")
        ax.set_xscale("log"), ax.set_xlabel(label), ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3g}", va="center", fontsize=7)
        ax.margins(x=0.6)
    if peak_gflops:
        axes[2].axvline(peak_gflops, color="tab:red", ls="--")
        axes[2].text(peak_gflops, -0.6, "matmul peak ", color="tab:red", fontsize=7, ha="right", va="bottom")
    fig.suptitle(group, fontsize=9)
    fig.tight_layout()
    return figure(fig, f"benchmark: {group}")
