"""Learning curves as PNG."""

import os


def save_learning_curve(history, path, title=None):
    """Plot test error (log scale, when present) and the training losses per epoch to `path`.

    `history` is a list of per-epoch dicts as `SemiSupervisedGAN.fit` returns them.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [logs["epoch"] for logs in history]
    fig, (ax_error, ax_loss) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for key, label in (("test_error", "test error"), ("train_error", "train error (labeled)")):
        values = [logs.get(key) for logs in history]
        if any(v is not None for v in values):
            ax_error.plot(epochs, [100 * v if v is not None else None for v in values],
                          marker=".", label=label)
    ax_error.set_yscale("log")
    ax_error.set_xlabel("epoch")
    ax_error.set_ylabel("error (%)")
    ax_error.grid(True, which="both", alpha=0.3)
    ax_error.legend()
    for key in ("loss_supervised", "loss_unsupervised", "loss_generator"):
        if any(key in logs for logs in history):
            ax_loss.plot(epochs, [logs.get(key) for logs in history], label=key.replace("_", " "))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend()
    if title:
        fig.suptitle(title)
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
