"""Everything ctrpy says to a registry: the only package that imports httpx."""
