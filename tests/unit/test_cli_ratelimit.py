"""`ctrpy image digest` and `pull` show the registry's rate limit on stderr, the digest alone
on stdout.  Rate-limit headers are what a real docker-registry never sends: pytest-httpserver."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from ctrpy.cli.main import cli
from ctrpy.oci import mediatypes
from ctrpy.oci.digest import Digest

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(Digest.of(b"{}")), "size": 2},
        "layers": [],
    }
).encode()
DIGEST = str(Digest.of(MANIFEST))
LIMITS = {
    "ratelimit-limit": "100;w=21600",
    "ratelimit-remaining": "97;w=21600",
    "docker-ratelimit-source": "203.0.113.9",
}


def serve(httpserver: HTTPServer) -> str:
    headers = {"Docker-Content-Digest": DIGEST, "Content-Type": mediatypes.OCI_MANIFEST, **LIMITS}
    # HEAD: werkzeug sends the headers (Content-Length of this body) without the body
    httpserver.expect_request("/v2/test/app/manifests/latest", method="HEAD").respond_with_data(
        MANIFEST, headers=headers
    )
    httpserver.expect_request(f"/v2/test/app/manifests/{DIGEST}", method="GET").respond_with_data(
        MANIFEST, headers=headers
    )
    httpserver.expect_request(f"/v2/test/app/blobs/{Digest.of(b'{}')}").respond_with_data(b"{}")
    return f"127.0.0.1:{httpserver.port}/test/app:latest"


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"HOME": str(tmp_path), "CTRPY_HOSTS_DIR": str(tmp_path / "none"), "NO_COLOR": "1"}
    result = CliRunner().invoke(cli, ["--root", str(tmp_path / "store"), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_digest_prints_the_rate_limit_on_stderr_only(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    ref = serve(httpserver)
    code, out, err = invoke(tmp_path, "image", "digest", ref)
    assert (code, out) == (0, DIGEST + "\n")
    assert err == "ratelimit: 97 of 100 remaining in a 6h window (source 203.0.113.9)\n"


def test_pull_prints_the_rate_limit_after_the_summary(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    ref = serve(httpserver)
    code, out, err = invoke(tmp_path, "image", "pull", ref)
    assert (code, out) == (0, "")
    assert err.splitlines()[-2].startswith("elapsed: ")
    assert err.splitlines()[-1] == (
        "ratelimit: 97 of 100 remaining in a 6h window (source 203.0.113.9)"
    )
