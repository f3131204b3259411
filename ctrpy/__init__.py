"""ctrpy: pull container images like `ctr image pull`, into a content-addressable store."""

__version__ = "0.1.0"
