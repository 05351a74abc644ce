"""ssgan: semi-supervised classification with the Improved-GAN recipe on Keras 3.

`SSGANClassifier` is the scikit-learn estimator; `ssgan.config` holds every setting and the
recipes; `ssgan.data`, `ssgan.layers`, `ssgan.losses`, `ssgan.models`, `ssgan.objectives` and
`ssgan.train` are the building blocks; `python -m ssgan.fit` trains from the command line.
"""

__version__ = "0.1.0"

__all__ = ["SSGANClassifier", "__version__"]


def __getattr__(name):
    # Imported on first use, so that `import ssgan.data` does not start Keras and its backend.
    if name == "SSGANClassifier":
        from ssgan.estimator import SSGANClassifier

        return SSGANClassifier
    raise AttributeError(f"module 'ssgan' has no attribute {name!r}")
