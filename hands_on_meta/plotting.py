"""Figures shared by the CLI and the notebooks.

>>> # fig = plot_episode(next(iter(episode_dataset(load_omniglot("test"), 5, 1, 2))))
"""
import numpy as np


def pyplot():
    """``matplotlib.pyplot``, on the non-interactive Agg backend outside a notebook (CLI, tests)."""
    import matplotlib

    if matplotlib.get_backend().lower() in ("agg", "") or not _interactive():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt



def save_figure(fig, path, dpi=120):
    """Save ``fig`` to ``path`` and close it, so that a notebook does not show it once more; returns ``path``."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path

def _interactive():
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def plot_episode(episode, max_query=None, title=None):
    """Support set (one column per class) above the query examples of each class."""
    plt = pyplot()
    sx, sy = np.asarray(episode["support_x"]), np.asarray(episode["support_y"])
    qx, qy = np.asarray(episode["query_x"]), np.asarray(episode["query_y"])
    n_way = int(sy.max()) + 1
    k_shot = sx.shape[0] // n_way
    n_query = qx.shape[0] // n_way if max_query is None else min(max_query, qx.shape[0] // n_way)
    rows = k_shot + n_query
    fig, axes = plt.subplots(rows, n_way, figsize=(1.3 * n_way, 1.3 * rows + 0.4), squeeze=False)
    for c in range(n_way):
        images = list(sx[sy == c][:k_shot]) + list(qx[qy == c][:n_query])
        for r, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image.squeeze(), cmap="gray_r" if image.mean() < 0.5 else "gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:blue" if r < k_shot else "tab:orange")
                spine.set_linewidth(2.5 if r < k_shot else 1.0)
            if r == 0:
                ax.set_title(f"label {c}", fontsize=9)
        axes[0, 0].set_ylabel("support", color="tab:blue")
        if n_query:
            axes[k_shot, 0].set_ylabel("query", color="tab:orange")
    fig.suptitle(title or f"{n_way}-way {k_shot}-shot episode: support (thick blue) and query (orange)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sine_adaptation(learners, k_shot=10, steps=(0, 1, 10), seed=10_000, task_index=0):
    """For one held-out sine task: the true curve, the K support points and each learner's
    prediction before adaptation and after each number of ``steps`` (one panel per learner)."""
    import tensorflow as tf

    from hands_on_meta.datasets.sine import sine_tasks
    from hands_on_meta.inner_loop import forward

    plt = pyplot()
    task = next(iter(sine_tasks(k_shot, 1, seed=seed).skip(task_index)))
    xs = np.linspace(-5, 5, 200, dtype=np.float32)[:, None]
    true = float(task["amplitude"]) * np.sin(xs - float(task["phase"]))
    cols = min(len(learners), 4)
    rows = -(-len(learners) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(learners):]:
        ax.set_visible(False)
    for ax, (name, learner) in zip(axes.flat, learners.items()):
        ax.plot(xs, true, "k", lw=2, label="true function")
        ax.plot(task["support_x"], task["support_y"], "^", color="tab:purple", ms=8, label=f"{k_shot} support points")
        for i, n in enumerate(steps):
            fast = learner.adapted_weights(task["support_x"], task["support_y"], n) if n else \
                learner.network.trainable_variables
            pred = forward(learner.network, fast, tf.constant(xs), training=False)
            ax.plot(xs, np.asarray(pred), "--" if n == 0 else "-", color=plt.cm.viridis(i / max(len(steps) - 1, 1)),
                    label="before adaptation" if n == 0 else f"after {n} step{'s' if n > 1 else ''}")
        ax.set_title(name)
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def read_training_log(path):
    """The CSV log of a training run as ``{column: array}``, one value per finished epoch."""
    import csv

    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) for row in rows]) for key in (rows[0] if rows else [])}


def plot_training_logs(logs, title=None):
    """Loss and score per epoch from the CSV logs of training runs: ``logs`` maps a label to a CSV path."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, path in logs.items():
        log = read_training_log(path)
        if not log:
            continue
        epochs = np.arange(1, len(log["loss"]) + 1)
        score = "accuracy" if "accuracy" in log else "mse"
        axes[0].plot(epochs, log["loss"], label=label)
        axes[1].plot(epochs, log[score], label=label)
        axes[1].set_ylabel(f"training {score}" + (" (%)" if score == "accuracy" else ""))
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
    axes[1].set_xlabel("epoch")
    for ax in axes:
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_task_weights(logs, title=None):
    """The weights of corrupted and clean tasks over training (columns ``weight_corrupted`` and
    ``weight_clean`` of the logs, in units of the plain average's 1/T): ``logs`` maps a panel title to a
    list of CSV paths (e.g. one per training seed). Returns the figure."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(logs), figsize=(5 * len(logs), 3.2), squeeze=False)
    for ax, (panel, paths) in zip(axes[0], logs.items()):
        for i, path in enumerate(paths):
            log = read_training_log(path)
            epochs = np.arange(1, len(log["weight_clean"]) + 1)
            ax.plot(epochs, log["weight_clean"], color="tab:blue", label="clean tasks" if i == 0 else None)
            ax.plot(epochs, log["weight_corrupted"], color="tab:red", label="corrupted tasks" if i == 0 else None)
        ax.axhline(1.0, color="k", ls="--", lw=1, label="plain average")
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set(xlabel="epoch", ylabel="mean weight (x 1/T)", title=panel)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grouped_results(results, group, series, ylabel, title=None, log=False):
    """Bars with 95% confidence intervals from ``recipe.evaluate`` output (``(result, fields)`` pairs):
    one cluster per value of ``fields[group]`` (e.g. ``"shot"``), one bar colour per value of
    ``fields[series]`` (e.g. ``"algorithm"``). A result with diverged (non-finite) episodes is drawn
    as its median, hatched and labelled with the number that diverged. Returns the figure."""
    plt = pyplot()
    table = {}
    for result, fields in results:
        table.setdefault(fields[series], {})[fields[group]] = result
    groups = sorted({g for row in table.values() for g in row},
                    key=lambda g: (0, g, "") if isinstance(g, (int, float)) else (1, 0, str(g)))  # 5 < 10 < 20
    width = 0.8 / len(table)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) * max(1, len(table) / 3)), 3.6))
    for i, (name, row) in enumerate(table.items()):
        xs = [j + (i - (len(table) - 1) / 2) * width for j, g in enumerate(groups) if g in row]
        found = [row[g] for g in groups if g in row]
        ok = [not getattr(r, "diverged", 0) for r in found]
        bars = ax.bar(xs, [r.mean if fine else r.median for r, fine in zip(found, ok)], width, capsize=2,
                      yerr=[r.ci95 if fine else 0.0 for r, fine in zip(found, ok)], label=str(name))
        for bar, r, fine in zip(bars, found, ok):
            if not fine:  # the mean is not finite: show the median, hatched, and say how many diverged
                bar.set_hatch("///")
                ax.annotate(f"{r.diverged}/{r.episodes}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(groups)), [f"{group} = {g}" for g in groups])
    ax.set(ylabel=ylabel, title=title, yscale="log" if log else "linear")
    handles, labels = ax.get_legend_handles_labels()
    if any(getattr(r, "diverged", 0) for row in table.values() for r in row.values()):
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///"))
        labels.append("median: the mean is not finite\n(n/N episodes diverged)")
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_roc(results, ax=None, title=None):
    """ROC curves: ``results`` maps a label to a :class:`~hands_on_meta.verification.VerificationResult`
    (or to ``(labels, scores)``); the legend gives each ROC-AUC."""
    from hands_on_meta.verification import roc_auc, roc_curve

    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4))
    for label, result in results.items():
        labels, scores = (result.labels, result.scores) if hasattr(result, "labels") else result
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="gray", label="chance")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=title or "ROC curve, pair verification")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="lower right")
    return ax.figure


def _show_example(ax, example, spectrogram):
    example = np.asarray(example).squeeze()
    if spectrogram:  # (time, mel) -> mel bins upwards, time to the right
        ax.imshow(example.T, origin="lower", aspect="auto", cmap="magma")
    else:
        ax.imshow(example, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])


def plot_pairs(x1, x2, same, values, value_name="distance", spectrogram=False, title=None):
    """One column per pair: ``x1[i]`` above ``x2[i]``, titled with ``values[i]`` (e.g. the learned
    distance), green for a same-class pair and red for a different-class pair."""
    plt = pyplot()
    n = len(x1)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.6 if not spectrogram else 3.0), squeeze=False)
    for i in range(n):
        _show_example(axes[0, i], x1[i], spectrogram)
        _show_example(axes[1, i], x2[i], spectrogram)
        color = "tab:green" if same[i] else "tab:red"
        axes[0, i].set_title(f"{'same' if same[i] else 'different'}\n{value_name} {float(values[i]):.2f}",
                             fontsize=8, color=color)
        for ax in axes[:, i]:
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(2)
    fig.suptitle(title or f"Pairs and their {value_name}", fontsize=10)
    fig.tight_layout()
    return fig


def pca_2d(points):
    """Projection of ``points`` (n, d) onto their first two principal components (NumPy SVD).

    >>> pca_2d(np.array([[0., 0., 1.], [2., 0., 1.], [4., 1., 1.]])).shape
    (3, 2)
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(f"points must have shape (n >= 2, dim), got {points.shape}")
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))  # dim 1: a second axis of zeros


def plot_embedding_2d(embeddings, labels, class_names=None, ax=None, title=None):
    """Scatter of ``embeddings`` (n, d) projected on their first two principal components, one colour
    per label."""
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    xy, labels = pca_2d(embeddings), np.asarray(labels)
    classes = np.unique(labels)
    colours = plt.cm.tab10 if len(classes) <= 10 else plt.cm.tab20
    for i, c in enumerate(classes):
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(*xy[labels == c].T, s=14, color=colours(i % colours.N), label=name)
    ax.set(xlabel="principal component 1", ylabel="principal component 2", title=title or "Embeddings (PCA)")
    ax.legend(fontsize=7, markerscale=1.5, ncol=2 if len(classes) > 6 else 1, loc="best")
    return ax.figure


def plot_prototypes(view, support_y, query_y, title=None, ax=None):
    """One episode in embedding space, projected on 2 principal components: support (circles) and
    query (dots) examples coloured by class, prototypes (stars), unlabelled examples (grey crosses)
    and, when ``view`` has them, arrows from each prototype to its refined position. ``view`` is
    ``learner.explain(episode)``."""
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    parts = [key for key in ("support", "query", "unlabeled", "prototypes", "refined") if key in view]
    xy = dict(zip(parts, np.split(pca_2d(np.concatenate([view[k] for k in parts])),
                                   np.cumsum([len(view[k]) for k in parts])[:-1])))
    colours = plt.cm.tab10
    if "unlabeled" in xy:
        ax.scatter(*xy["unlabeled"].T, marker="x", s=18, color="0.6", label="unlabelled")
    for c in range(len(view["prototypes"])):
        colour = colours(c % 10)
        ax.scatter(*xy["query"][np.asarray(query_y) == c].T, s=10, color=colour, alpha=0.6)
        ax.scatter(*xy["support"][np.asarray(support_y) == c].T, s=60, facecolors="none", edgecolors=colour)
        ax.scatter(*xy["prototypes"][c], marker="*", s=260, color=colour, edgecolors="k", zorder=3)
        if "refined" in xy:
            ax.annotate("", xy["refined"][c], xy["prototypes"][c], arrowprops={"arrowstyle": "->", "color": "k"})
    ax.set(xlabel="principal component 1", ylabel="principal component 2",
           title=title or "Episode embeddings: support (circles), queries (dots), prototypes (stars)")
    return ax.figure
