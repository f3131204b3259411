"""ctrpy's benchmark: ctrpy side by side with ctr, skopeo, curl and openssl, on one registry.

    python3 -m bench                 # the full run (~10-15 min on 2 cores), writes RESULTS.md
    python3 -m bench --quick         # small images, 3 runs: a smoke test in about a minute
    python3 -m bench --runs 7 --output /tmp/results.md

Modules: ``images`` (streamed test images), ``peers`` (tool discovery, a private containerd,
the machine's description), ``measure`` (one timed run), ``report`` (pure: medians, ratios,
targets, Markdown).  Everything talks to 127.0.0.1 only.
"""
