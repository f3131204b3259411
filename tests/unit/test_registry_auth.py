"""Registry auth against fakes: Bearer token realms (same and other host), Basic,
credentials from --user, config.json and credential helpers, and secrets kept out of
every log line, message and repr."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ctrpy.errors import AuthError, CtrpyError, NetworkError
from ctrpy.oci import mediatypes
from ctrpy.oci.reference import Reference
from ctrpy.registry.client import Client
from ctrpy.registry.credentials import Credentials, CredentialStore
from tests.unit import registry_fakes as fakes

IMG = fakes.image()
PASSWORD = "pw-Sup3r-SECRET"
TOKEN = "tok-VERY-SECRET-123"
IDENTITY = "idtok-REFRESH-SECRET"
SECRETS = (PASSWORD, TOKEN, IDENTITY, base64.b64encode(f"alice:{PASSWORD}".encode()).decode())


@pytest.fixture
def realm_server(other_host_server: HTTPServer) -> HTTPServer:
    """The token realm, on another host name (127.0.0.1) than the registry (localhost)."""
    return other_host_server


def manifest_path(repo: str = "test/app") -> str:
    return f"/v2/{repo}/manifests/latest"


def ok_head() -> Response:
    return Response(
        IMG.manifest,
        headers={
            "Content-Type": mediatypes.OCI_MANIFEST,
            "Docker-Content-Digest": str(IMG.manifest_desc.digest),
        },
    )


def bearer_registry(server: HTTPServer, realm: str, token: str = TOKEN) -> None:
    """Every /v2/ path wants ``Bearer <token>``; otherwise a 401 Bearer challenge."""

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") == f"Bearer {token}":
            return ok_head()
        return Response(
            status=401,
            headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="fake-registry"'},
        )

    server.expect_request(manifest_path(), method="HEAD").respond_with_handler(handler)
    server.expect_request(manifest_path("other/repo"), method="HEAD").respond_with_handler(handler)


def basic_registry(server: HTTPServer, user: str, password: str) -> None:
    good = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") == good:
            return ok_head()
        return Response(status=401, headers={"WWW-Authenticate": 'Basic realm="fake"'})

    server.expect_request(manifest_path(), method="HEAD").respond_with_handler(handler)


def client(tmp_path: Path, **kw: object) -> Client:
    return Client(fakes.options(tmp_path, **kw))


def ref(server: HTTPServer, path: str = "test/app") -> Reference:
    return fakes.ref(f"localhost:{server.port}", path)


def ctrpy_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ctrpy"))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- Bearer ----------------------------------------------------------------------------------


def test_anonymous_bearer_token_is_fetched_once_and_cached(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    bearer_registry(httpserver, httpserver.url_for("/token"))
    httpserver.expect_request("/token").respond_with_json({"token": TOKEN, "expires_in": 300})
    with client(tmp_path) as c:
        c.resolve(ref(httpserver))
        c.resolve(ref(httpserver))
    seen = [(r.method, r.path, r.headers.get("Authorization")) for r, _ in httpserver.log]
    assert seen == [
        ("HEAD", manifest_path(), None),
        ("GET", "/token", None),
        ("HEAD", manifest_path(), f"Bearer {TOKEN}"),
        ("HEAD", manifest_path(), f"Bearer {TOKEN}"),  # challenge remembered: no 401 again
    ]
    token_request = httpserver.log[1][0]
    assert token_request.args.to_dict(flat=False) == {
        "service": ["fake-registry"],
        "scope": ["repository:test/app:pull"],
    }


def test_token_per_scope(httpserver: HTTPServer, tmp_path: Path) -> None:
    bearer_registry(httpserver, httpserver.url_for("/token"))
    httpserver.expect_request("/token").respond_with_json({"token": TOKEN})
    with client(tmp_path) as c:
        c.resolve(ref(httpserver))
        c.resolve(ref(httpserver, "other/repo"))
    scopes = [r.args["scope"] for r, _ in httpserver.log if r.path == "/token"]
    assert scopes == ["repository:test/app:pull", "repository:other/repo:pull"]


def test_realm_on_another_host_gets_the_credentials_registry_gets_the_token(
    httpserver: HTTPServer,
    realm_server: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bearer_registry(httpserver, realm_server.url_for("/auth/token"))
    realm_server.expect_request("/auth/token").respond_with_json(
        {"access_token": TOKEN, "expires_in": 60}
    )
    caplog.set_level(logging.DEBUG, logger="ctrpy")
    with client(tmp_path, user="alice", password=PASSWORD) as c:
        got = c.resolve(ref(httpserver))
    assert got.descriptor == IMG.manifest_desc
    (token_request, _) = realm_server.log[0]
    assert token_request.authorization is not None
    assert (token_request.authorization.username, token_request.authorization.password) == (
        "alice",
        PASSWORD,
    )
    assert token_request.args["account"] == "alice"
    registry_auth = [r.headers.get("Authorization") for r, _ in httpserver.log]
    assert registry_auth == [None, f"Bearer {TOKEN}"]
    assert_no_secret(ctrpy_log(caplog))


def test_identity_token_is_exchanged_with_a_post(
    httpserver: HTTPServer, realm_server: HTTPServer, tmp_path: Path
) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    entry = {"auth": base64.b64encode(b"alice:").decode(), "identitytoken": IDENTITY}
    (config / "config.json").write_text(
        json.dumps({"auths": {f"localhost:{httpserver.port}": entry}})
    )
    bearer_registry(httpserver, realm_server.url_for("/token"))
    realm_server.expect_request("/token", method="POST").respond_with_json({"token": TOKEN})
    with client(tmp_path) as c:
        c.resolve(ref(httpserver))
    form = realm_server.log[0][0].form.to_dict()
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": IDENTITY,
        "service": "fake-registry",
        "scope": "repository:test/app:pull",
        "client_id": "ctrpy",
    }


@pytest.mark.parametrize(
    ("user", "hint_word"),
    [(None, "log in"), ("alice", "check the user name")],
    ids=["anonymous", "with-credentials"],
)
def test_realm_refusing_is_an_auth_error_naming_the_realm(
    httpserver: HTTPServer,
    realm_server: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    user: str | None,
    hint_word: str,
) -> None:
    bearer_registry(httpserver, realm_server.url_for("/token"))
    realm_server.expect_request("/token").respond_with_json(
        {"details": "incorrect username or password"}, status=401
    )
    caplog.set_level(logging.DEBUG, logger="ctrpy")
    with client(tmp_path, user=user, password=PASSWORD) as c, pytest.raises(AuthError) as info:
        c.resolve(ref(httpserver))
    message = info.value.message
    assert f"127.0.0.1:{realm_server.port}" in message
    assert "incorrect username or password" in message
    assert info.value.hint is not None and hint_word in info.value.hint
    assert_no_secret(message, info.value.hint or "", ctrpy_log(caplog))


@pytest.mark.parametrize(
    ("realm", "error"),
    [
        ("http://a..b/token", NetworkError),  # IDNA cannot encode the host
        ("http://a\tb/token", AuthError),  # httpx refuses the URL
        ("ftp://[x/token", AuthError),  # not http(s), and urlsplit cannot parse it
    ],
    ids=["empty-label", "tab", "bracket"],
)
def test_unusable_realm_is_a_ctrpy_error(
    httpserver: HTTPServer, tmp_path: Path, realm: str, error: type[CtrpyError]
) -> None:
    """A hostile realm ends in a ctrpy error (not UnicodeError, httpx.InvalidURL or
    ValueError escaping as an "internal error")."""
    bearer_registry(httpserver, realm)
    with client(tmp_path) as c, pytest.raises(error):
        c.resolve(ref(httpserver))


def test_still_401_with_a_fresh_token_is_an_auth_error(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    bearer_registry(httpserver, httpserver.url_for("/token"), token="another-token")
    httpserver.expect_request("/token").respond_with_json({"token": TOKEN})
    with client(tmp_path) as c, pytest.raises(AuthError):
        c.resolve(ref(httpserver))
    assert [r.path for r, _ in httpserver.log].count(manifest_path()) == 2


def test_unsupported_scheme_is_an_auth_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(manifest_path()).respond_with_response(
        Response(status=401, headers={"WWW-Authenticate": "Negotiate"})
    )
    with client(tmp_path) as c, pytest.raises(AuthError, match="negotiate"):
        c.resolve(ref(httpserver))


# --- Basic -------------------------------------------------------------------------------------


def test_basic_with_user_credentials(httpserver: HTTPServer, tmp_path: Path) -> None:
    basic_registry(httpserver, "alice", PASSWORD)
    with client(tmp_path, user="alice", password=PASSWORD) as c:
        c.resolve(ref(httpserver))
        c.resolve(ref(httpserver))
    sent = [r.headers.get("Authorization") is not None for r, _ in httpserver.log]
    assert sent == [False, True, True]  # only after the host asked for it


@pytest.mark.parametrize(
    ("user", "password", "words"),
    [
        (None, None, "no credentials"),
        ("alice", "wrong-" + PASSWORD, "refused the credentials of user 'alice'"),
    ],
    ids=["no-credentials", "wrong-password"],
)
def test_basic_refused(
    httpserver: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    user: str | None,
    password: str | None,
    words: str,
) -> None:
    basic_registry(httpserver, "alice", PASSWORD)
    caplog.set_level(logging.DEBUG, logger="ctrpy")
    with client(tmp_path, user=user, password=password) as c, pytest.raises(AuthError) as info:
        c.resolve(ref(httpserver))
    assert words in info.value.message
    assert info.value.exit_code == 4
    assert_no_secret(info.value.message, str(info.value.hint), ctrpy_log(caplog))
    assert "wrong-" not in info.value.message + ctrpy_log(caplog)


def test_basic_credentials_from_config_json(httpserver: HTTPServer, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    auth = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {f"http://localhost:{httpserver.port}/v1/": {"auth": auth}}})
    )
    basic_registry(httpserver, "alice", PASSWORD)
    with client(tmp_path) as c:
        assert c.resolve(ref(httpserver)).descriptor == IMG.manifest_desc


# --- credential helpers ----------------------------------------------------------------------


def fake_helper(bindir: Path, name: str, answer: dict[str, str] | None) -> Path:
    """A ``docker-credential-<name>`` script that records its stdin and prints ``answer``."""
    bindir.mkdir(exist_ok=True)
    record = bindir / f"{name}.stdin"
    script = bindir / f"docker-credential-{name}"
    if answer is None:
        body = 'echo "credentials not found in native keychain"; exit 1'
    else:
        body = f"cat <<'EOF'\n{json.dumps(answer)}\nEOF"
    script.write_text(f'#!/bin/sh\n[ "$1" = get ] || exit 2\ncat > "{record}"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


@pytest.mark.parametrize(
    ("config", "host", "server"),
    [
        ({"credsStore": "fake"}, "registry.example:5000", "registry.example:5000"),
        (
            {"credHelpers": {"registry.example:5000": "fake"}},
            "registry.example:5000",
            "registry.example:5000",
        ),
        ({"credsStore": "fake"}, "registry-1.docker.io", "https://index.docker.io/v1/"),
        (
            {"credHelpers": {"https://index.docker.io/v1/": "fake"}},
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
        ),
    ],
    ids=["credsStore", "credHelpers", "credsStore-docker-hub", "credHelpers-docker-hub"],
)
def test_credential_helper(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    host: str,
    server: str,
) -> None:
    record = fake_helper(
        tmp_path / "bin", "fake", {"ServerURL": server, "Username": "bob", "Secret": PASSWORD}
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps(config))
    store = CredentialStore(docker_config=tmp_path)
    got = store.lookup(host)
    assert got == Credentials("bob", PASSWORD, None, "credential helper docker-credential-fake")
    assert record.read_text() == server
    assert_no_secret(repr(got))


def test_credential_helper_token_and_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_helper(tmp_path / "bin", "tok", {"Username": "<token>", "Secret": IDENTITY})
    fake_helper(tmp_path / "bin", "none", None)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(
        json.dumps({"credHelpers": {"a.example": "tok", "b.example": "none"}})
    )
    store = CredentialStore(docker_config=tmp_path)
    token = store.lookup("a.example")
    assert token is not None and token.identity_token == IDENTITY
    assert store.lookup("b.example") is None
    assert store.lookup("c.example") is None


def test_missing_helper_warns_and_goes_anonymous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "surely-not-installed-x"}))
    caplog.set_level(logging.WARNING, logger="ctrpy")
    assert CredentialStore(docker_config=tmp_path).lookup("a.example") is None
    assert "docker-credential-surely-not-installed-x" in caplog.text


@pytest.mark.parametrize(
    ("content", "words"),
    [("{not json", "not valid JSON"), ('{"auths": {"a.example": {"auth": "!!!"}}}', "auth")],
    ids=["bad-json", "bad-auth"],
)
def test_broken_config_json_is_a_config_error(tmp_path: Path, content: str, words: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(CtrpyError) as info:
        CredentialStore(docker_config=tmp_path).lookup("a.example")
    assert info.value.exit_code == 2 and words in info.value.message


def test_user_flag_wins_over_config_and_is_never_printed(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "surely-not-installed-x"}))
    store = CredentialStore("alice", PASSWORD, tmp_path)
    got = store.lookup("a.example")
    assert got == Credentials("alice", PASSWORD, None, "--user")
    assert_no_secret(repr(got), repr(fakes.options(tmp_path, user="alice", password=PASSWORD)))


def test_user_with_colon_splits(tmp_path: Path) -> None:
    got = CredentialStore(f"alice:{PASSWORD}", None, tmp_path).lookup("x")
    assert got is not None and (got.username, got.password) == ("alice", PASSWORD)


# --- token lifetime and concurrency --------------------------------------------------------


def test_a_refused_cached_token_is_replaced_once(httpserver: HTTPServer, tmp_path: Path) -> None:
    accepted = {"token": "first"}

    def registry(request: Request) -> Response:
        if request.headers.get("Authorization") == f"Bearer {accepted['token']}":
            return ok_head()
        realm = httpserver.url_for("/token")
        return Response(status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})

    httpserver.expect_request(manifest_path()).respond_with_handler(registry)
    httpserver.expect_oneshot_request("/token").respond_with_json({"token": "first"})
    httpserver.expect_oneshot_request("/token").respond_with_json({"token": "second"})
    with client(tmp_path) as c:
        c.resolve(ref(httpserver))
        accepted["token"] = "second"  # the registry revokes the first token
        c.resolve(ref(httpserver))
    seen = [(r.path, r.headers.get("Authorization")) for r, _ in httpserver.log]
    assert seen == [
        (manifest_path(), None),
        ("/token", None),
        (manifest_path(), "Bearer first"),
        (manifest_path(), "Bearer first"),
        ("/token", None),
        (manifest_path(), "Bearer second"),
    ]


def test_expired_token_is_fetched_again(httpserver: HTTPServer, tmp_path: Path) -> None:
    bearer_registry(httpserver, httpserver.url_for("/token"))
    httpserver.expect_request("/token").respond_with_json({"token": TOKEN, "expires_in": 1})
    with client(tmp_path) as c:
        c.resolve(ref(httpserver))
        time.sleep(1.0)  # longer than the token lives (less a safety margin)
        c.resolve(ref(httpserver))
    assert [r.path for r, _ in httpserver.log].count("/token") == 2


def test_concurrent_requests_share_one_token(tmp_path: Path) -> None:
    server = HTTPServer(threaded=True)
    server.start()
    try:
        bearer_registry(server, server.url_for("/token"))
        server.expect_request("/token").respond_with_json({"token": TOKEN})
        with client(tmp_path) as c:
            c.resolve(ref(server))  # learn the challenge
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: c.resolve(ref(server)), range(16)))
        assert {r.descriptor for r in results} == {IMG.manifest_desc}
        assert [r.path for r, _ in server.log].count("/token") == 1
    finally:
        server.clear()
        server.stop()
