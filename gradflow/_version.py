"""``__version__`` from the installed package's metadata (one place; no import of gradflow)."""

import importlib.metadata as _metadata

try:
    __version__ = _metadata.version("gradflow")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
