"""ssgan's benchmark harness: the MNIST suite (`python benchmarks/run_all.py`, a package of
`plan`, `schedule`, `runner`, `records`, `report` and `cli`), the speed measurements (`speed.py`)
and the scikit-learn comparison (`compare_sklearn.py`). See `benchmarks/README.md`."""
