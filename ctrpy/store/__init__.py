"""The local store: the only package that writes to disk."""
