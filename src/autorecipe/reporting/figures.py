"""The report's pictures as inline PNG data URIs: matplotlib plots (a user's text with its `$` escaped, so it
is never read as math) and image strips drawn with Pillow."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

DPI = 80
STYLE = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": DPI}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)  # files only, never a window
    import matplotlib.pyplot as plt
    return plt


def _text(value: str, most: int = 18) -> str:
    """A user's string as matplotlib text: shortened, `$` escaped (no math text)."""
    return str(value)[:most].replace("$", r"\$")


def _uri(figure) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def png_uri(pixels: np.ndarray) -> str:
    """A uint8 image (H, W) or (H, W, 3) as a PNG data URI."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def as_rgb(image: np.ndarray, scale: int = 1) -> np.ndarray:
    """A (C, S, S) uint8 image as (S, S, 3), enlarged `scale` times by repeating pixels."""
    rgb = np.repeat(image, 3, 0) if image.shape[0] == 1 else image[:3]
    rgb = np.ascontiguousarray(rgb.transpose(1, 2, 0))
    return rgb.repeat(scale, 0).repeat(scale, 1) if scale > 1 else rgb


def strip(images: list[np.ndarray], side: int = 48) -> str:
    """(C, S, S) images side by side, each shown about `side` pixels wide."""
    scale = max(1, round(side / images[0].shape[1]))
    gap = np.full((images[0].shape[1] * scale, 2, 3), 255, dtype=np.uint8)
    parts = [piece for image in images for piece in (as_rgb(image, scale), gap)][:-1]
    return png_uri(np.concatenate(parts, axis=1))


def overlay(image: np.ndarray, saliency: np.ndarray, side: int = 96) -> str:
    """An image and, beside it, the image under its saliency map (red where the model looked)."""
    scale = max(1, round(side / image.shape[1]))
    rgb = as_rgb(image, scale).astype(np.float32)
    heat = np.repeat(np.repeat(saliency, scale, 0), scale, 1)[..., None]
    tinted = rgb * (0.35 + 0.65 * heat) * np.array([1.0, 0.55, 0.55]) + heat * np.array([110.0, 0, 0])
    gap = np.full((rgb.shape[0], 3, 3), 255.0)
    return png_uri(np.clip(np.concatenate([rgb, gap, tinted], axis=1), 0, 255).astype(np.uint8))


def curves(history: list[dict]) -> str:
    """Loss and accuracy, train against validation, and the learning rate, by epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.2))
        for ax, name in zip(axes[:2], ("loss", "accuracy")):
            ax.plot(epochs, [h.get(f"train_{name}") for h in history], label="train", marker=".")
            if any(f"val_{name}" in h for h in history):
                ax.plot(epochs, [h.get(f"val_{name}", math.nan) for h in history], label="validation", marker=".")
            ax.set(title=name, xlabel="epoch")
            ax.legend()
        axes[2].plot(epochs, [h.get("lr") for h in history], color="tab:green", marker=".")
        axes[2].set(title="learning rate (at the epoch's end)", xlabel="epoch")
        return _uri(figure)


def lr_finder(rows: list[dict]) -> str:
    """The lr range test: loss against learning rate, the suggestion marked."""
    plt = _pyplot()
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot([r["lr"] for r in rows], [r["loss"] for r in rows], alpha=0.4, label="loss")
        ax.plot([r["lr"] for r in rows], [r["smoothed_loss"] for r in rows], label="smoothed")
        for r in rows:
            if r.get("suggested"):
                ax.axvline(r["lr"], color="tab:red", linestyle="--", label=f"suggested {r['lr']:.3g}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title="learning-rate range test")
        ax.legend()
        return _uri(figure)


def gradients(record: dict) -> str:
    """Per-layer gradient norms over training (log scale), coloured from the first layer to the last."""
    plt = _pyplot()
    norms = np.array([[math.nan if n is None else n for n in row] for row in record["norms"]], dtype=float)
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 3.2))
        colours = plt.get_cmap("viridis")(np.linspace(0, 1, max(1, norms.shape[1])))
        for i in range(norms.shape[1]):
            ax.plot(record["steps"], norms[:, i], color=colours[i], linewidth=0.8)
        ax.set(yscale="log", xlabel="optimizer step", ylabel="gradient norm",
               title=f"{norms.shape[1]} layers (dark: first, yellow: last)")
        return _uri(figure)


def confusion(matrix: np.ndarray, classes: list[str]) -> str:
    """The confusion matrix, rows the true classes, counts written in when the classes are few."""
    plt = _pyplot()
    k = len(classes)
    side = min(10, 2 + 0.45 * k)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        figure, ax = plt.subplots(figsize=(side + 1, side))
        shown = ax.imshow(matrix, cmap="Blues")
        figure.colorbar(shown, ax=ax, shrink=0.8)
        if k <= 30:
            ax.set_xticks(range(k), [_text(c) for c in classes], rotation=90)
            ax.set_yticks(range(k), [_text(c) for c in classes])
        if k <= 15:
            top = matrix.max() or 1
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                            color="white" if matrix[i, j] > top / 2 else "black", fontsize=7)
        ax.set(xlabel="predicted", ylabel="true")
        return _uri(figure)


def reliability(bins: list[dict], ece: float) -> str:
    """The reliability diagram: accuracy against confidence per bin, the diagonal being perfect calibration."""
    plt = _pyplot()
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
        ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
               width=[b["high"] - b["low"] for b in bins], alpha=0.6, edgecolor="black", label="accuracy")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", color="tab:red",
                label="per bin")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=f"ECE {100 * ece:.1f}%")
        ax.legend(loc="upper left")
        return _uri(figure)


def search_history(rows: list[dict]) -> str:
    """Each scored trial's objective and the best so far, by trial number."""
    plt = _pyplot()
    scored = [r for r in rows if r["score"] is not None]
    best, running = [], -math.inf
    for r in scored:
        running = max(running, r["score"])
        best.append(running)
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(7, 3.2))
        ax.scatter([r["number"] for r in scored], [r["score"] for r in scored], s=14, label="trial")
        ax.step([r["number"] for r in scored], best, where="post", color="tab:red", label="best so far")
        ax.set(xlabel="trial", ylabel="validation score", title="search history")
        ax.legend()
        return _uri(figure)


def bars(values: dict[str, float], title: str) -> str:
    """Horizontal bars, largest on top (importance): the 20 largest above zero."""
    plt = _pyplot()
    items = sorted(((k, v) for k, v in values.items() if v > 0), key=lambda kv: kv[1])[-20:] or [("none", 0.0)]
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(6, 0.8 + 0.28 * len(items)))
        ax.barh([_text(k, 30) for k, _ in items], [v for _, v in items], color="tab:blue")
        ax.set(title=title)
        return _uri(figure)


def waterfall(start: dict, steps: list[dict]) -> str:
    """The cumulative path: the all-baseline arm's accuracy, then each bucket's added effect with its interval."""
    plt = _pyplot()
    level = start["mean"]
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(1.6 + 1.3 * (len(steps) + 1), 3.6))
        ax.bar(0, level * 100, color="grey")
        labels = ["baseline"]
        for i, step in enumerate(steps, start=1):
            t = step["t_interval"]
            change, low, high = t["mean"], t["low"], t["high"]
            ax.bar(i, change * 100, bottom=level * 100, color="tab:green" if change >= 0 else "tab:red")
            ax.errorbar(i, (level + change) * 100, yerr=[[(change - low) * 100], [(high - change) * 100]],
                        color="black", capsize=4)
            level += change
            labels.append(_text(step["name"].replace("+ ", "+"), 22))
        ax.bar(len(steps) + 1, level * 100, color="tab:blue")
        labels.append("full recipe")
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
        ax.set(ylabel="validation accuracy %", title="cumulative path (95% paired t-intervals)")
        low_edge = min(start["mean"], level) * 100
        ax.set_ylim(max(0, low_edge - 10), min(100, max(start["mean"], level) * 100 + 5))
        return _uri(figure)
