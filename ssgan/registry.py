"""A registry of named plug-ins whose built-ins are imported on first use, so that a command line
can list and check names without importing Keras and its backend."""

import importlib
from collections.abc import MutableMapping


class Registry(MutableMapping):
    """name → plug-in. `add_lazy(name, "module:attribute")` registers a built-in that is imported
    when first looked up; `registry[name] = plugin` registers one directly. Iterating lists the
    names (registration order) and imports nothing."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def add_lazy(self, name, target):
        self._entries[name] = target

    def __getitem__(self, name):
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attribute)
        return entry

    def __setitem__(self, name, plugin):
        self._entries[name] = plugin

    def __delitem__(self, name):
        del self._entries[name]

    def __contains__(self, name):
        return name in self._entries  # without importing it (Mapping's would look it up)

    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self):
        return len(self._entries)

    def source(self, name):
        """The "module:attribute" of a built-in not imported yet, else None."""
        entry = self._entries.get(name)
        return entry if isinstance(entry, str) else None

    def lookup(self, name):
        """The plug-in called `name`, or a ValueError naming the known ones (and a near miss)."""
        if name not in self._entries:
            import difflib

            close = difflib.get_close_matches(str(name), list(self), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown {self.kind} {name!r}: expected one of "
                             f"{', '.join(sorted(self))}.{hint}")
        return self[name]
