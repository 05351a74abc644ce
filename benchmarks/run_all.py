"""`python benchmarks/run_all.py`: the MNIST benchmark suite of ssgan (`benchmarks.cli`; see
`benchmarks/README.md`). Runs from any working directory."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The repository root, not this folder, goes first: `benchmarks` is imported as a package.
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path[0] = str(HERE.parent)
else:
    sys.path.insert(0, str(HERE.parent))

from benchmarks.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
