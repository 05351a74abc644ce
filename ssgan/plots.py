"""Learning curves as PNG."""

from ssgan.util import atomic_write


def save_learning_curve(history, path, title=None):
    """Plot test error (log scale, when present) and the training losses per epoch to `path`.

    `history` is a list of per-epoch dicts, as `SemiSupervisedGAN.log` holds them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib import pyplot as plt

    epochs = [logs["epoch"] for logs in history]
    marker = "." if len(epochs) < 30 else None  # a single epoch still shows as a point
    fig, (ax_error, ax_loss) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for key, label in (("test_error", "test error"), ("train_error", "train error (labeled)")):
        values = [logs.get(key) for logs in history]
        if any(v is not None for v in values):
            ax_error.plot(epochs, [100 * v if v is not None else None for v in values],
                          marker=marker, label=label)
    for ax in (ax_error, ax_loss):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax_error.set_yscale("log")
    ax_error.set_xlabel("epoch")
    ax_error.set_ylabel("error (%)")
    ax_error.grid(True, which="both", alpha=0.3)
    ax_error.legend()
    for key in ("loss_supervised", "loss_unsupervised", "loss_generator"):
        if any(key in logs for logs in history):
            ax_loss.plot(epochs, [logs.get(key) for logs in history], marker=marker,
                         label=key.replace("_", " "))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend()
    if title:
        fig.suptitle(title)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
