"""Pure OCI value types and rules: no I/O, no network, no disk."""
