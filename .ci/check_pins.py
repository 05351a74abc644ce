"""Fail unless every `name==version` pin of the file given is the installed version: the
second CI job must test the minimums, not what pip happened to pick."""

import importlib.metadata
import sys


def main(path):
    wrong = []
    for line in open(path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, pinned = line.partition("==")
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong.append(f"{name} {installed} (pinned {pinned})")
    if wrong:
        print(f"check_pins: {path}: {'; '.join(wrong)}", file=sys.stderr)
        return 1
    print(f"check_pins: the {path} versions are installed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
