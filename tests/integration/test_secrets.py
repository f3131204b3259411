"""Secrets (issue 8): passwords, tokens and Authorization values never show, and
credentials go only to the registry they belong to.

Every run uses known secrets and ``--debug``; then every captured stream (stdout, stderr,
log records, exception text and traceback) is searched for each secret in every form it
could take (plain, base64 of ``user:password``, URL-encoded).  The registries are the real
docker-registry (Basic auth) and the fault proxy in front of the plain one (Bearer gates,
token realms, credential echoes).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrpy.errors import CtrpyError
from ctrpy.oci import reference
from ctrpy.registry.client import Client, ClientOptions
from tests.support import images
from tests.support.faultproxy import (
    Canned,
    CtrpyEnv,
    DropHalfway,
    FaultProxy,
    Response,
    Run,
    bearer_gate,
    token_realm,
)
from tests.support.registry import TEST_PASSWORD, TEST_USER, Registry

USER = "secret-tester"
PASSWORD = "pw-S3CRET-9d1e4a"
WRONG_PASSWORD = "pw-WR0NG-S3CRET-c3b2"
TOKEN = "tok-S3CRET-77c0b2"
IDENTITY = "idt-S3CRET-51aa0f"
OTHER_PASSWORD = "pw-OTHER-S3CRET-e8f1"


def forms(user: str, secret: str) -> list[str]:
    """Every way ``secret`` could leak."""
    pair = f"{user}:{secret}".encode()
    return [
        secret,
        base64.b64encode(pair).decode(),
        base64.b64encode(secret.encode()).decode(),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
    ]


SECRETS = [
    *forms(USER, PASSWORD),
    *forms(USER, WRONG_PASSWORD),
    *forms(USER, OTHER_PASSWORD),
    *forms("", IDENTITY),
    *forms(TEST_USER, TEST_PASSWORD),
    TOKEN,
]


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def assert_no_secret(run: Run) -> None:
    assert leaks(run.stdout) == [], run.stdout
    assert leaks(run.stderr) == [], run.stderr


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def write_docker_config(env: CtrpyEnv, config: dict[str, object]) -> Path:
    path = Path(env.env["DOCKER_CONFIG"]) / "config.json"
    path.write_text(json.dumps(config))
    return path


def auth_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def world(tmp_path: Path) -> CtrpyEnv:
    return CtrpyEnv.make(tmp_path)


@pytest.fixture(scope="module")
def image(registry: Registry) -> images.PushedImage:
    img = images.simple_image(files={"secret": b"nothing secret here\n"})
    return images.push(registry.url, "secrets/app", img, ("latest",))


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


@pytest.fixture
def realm() -> Iterator[FaultProxy]:
    """A token realm that grants TOKEN to USER:PASSWORD, and to an identity token POST."""
    with token_realm(TOKEN, USER, PASSWORD) as r:
        grant = Response(
            200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()
        )
        r.rules.insert(
            0,
            Canned(
                r"/token",
                grant,
                methods=("POST",),
                when=lambda ex: f"refresh_token={IDENTITY}".encode() in ex.body,
            ),
        )
        yield r


def gate(proxy: FaultProxy, realm: FaultProxy) -> None:
    proxy.rules.insert(0, bearer_gate(f"http://localhost:{realm.port}/token", "reg", TOKEN))


def ref_of(proxy: FaultProxy | Registry, image: images.PushedImage) -> str:
    return f"{proxy.host}/{image.repository}:latest"


# --- nothing secret in any output (real subprocesses, --debug) -------------------------------


def test_token_flow_with_user_flag(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    gate(proxy, realm)
    run = world.run(
        "--debug", "image", "pull", "--user", f"{USER}:{PASSWORD}", ref_of(proxy, image)
    )
    assert run.returncode == 0, run.explain()
    assert_no_secret(run)
    assert "DEBUG" in run.stderr or "GET " in run.stderr, "no --debug trace to search"


def test_realm_refuses_the_password(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    gate(proxy, realm)
    run = world.run(
        "--debug", "image", "pull", "--user", f"{USER}:{WRONG_PASSWORD}", ref_of(proxy, image)
    )
    assert run.returncode == 4, run.explain()
    assert_no_secret(run)


def test_registry_refuses_the_token(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    challenge = f'Bearer realm="http://localhost:{realm.port}/token",service="reg"'
    proxy.add(Canned(r"/v2/.*", Response(401, {"WWW-Authenticate": challenge}, b"{}")))
    run = world.run(
        "--debug", "image", "pull", "--user", f"{USER}:{PASSWORD}", ref_of(proxy, image)
    )
    assert run.returncode == 4, run.explain()
    assert any(ex.authorization == f"Bearer {TOKEN}" for ex in proxy.requests)
    assert_no_secret(run)


def test_registry_that_echoes_the_token_in_its_error(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    """A registry that repeats the Authorization it got in its error body: ctrpy shows the
    registry's message, but not the token in it."""
    body = json.dumps(
        {"errors": [{"code": "DENIED", "message": f"token {TOKEN} may not pull", "detail": None}]}
    ).encode()
    gate(proxy, realm)
    proxy.add(Canned(r"/v2/.*/manifests/.*", Response(403, {}, body), methods=("GET", "HEAD")))
    # HEAD answers carry no body: force the GET fallback by refusing HEAD with 405.
    proxy.rules.insert(1, Canned(r"/v2/.*/manifests/.*", Response(405), methods=("HEAD",)))
    run = world.run(
        "--debug", "image", "pull", "--user", f"{USER}:{PASSWORD}", ref_of(proxy, image)
    )
    assert run.returncode == 4, run.explain()
    assert_no_secret(run)


def test_realm_that_echoes_the_password_in_its_refusal(
    world: CtrpyEnv, proxy: FaultProxy, image: images.PushedImage
) -> None:
    body = json.dumps({"details": f"wrong password {WRONG_PASSWORD} for {USER}"}).encode()
    with FaultProxy(None, [Canned(r"/token", Response(401, {}, body))]) as echo:
        gate(proxy, echo)
        run = world.run(
            "--debug", "image", "pull", "--user", f"{USER}:{WRONG_PASSWORD}", ref_of(proxy, image)
        )
    assert run.returncode == 4, run.explain()
    assert_no_secret(run)


@pytest.mark.parametrize("password", [TEST_PASSWORD, WRONG_PASSWORD], ids=["right", "wrong"])
def test_basic_auth_registry(
    world: CtrpyEnv,
    auth_registry: Registry,
    auth_registry_images: images.StandardImages,
    password: str,
) -> None:
    ref = auth_registry_images.single_oci.ref()
    run = world.run("--debug", "image", "pull", "--user", f"{TEST_USER}:{password}", ref)
    assert run.returncode == (0 if password == TEST_PASSWORD else 4), run.explain()
    assert_no_secret(run)


def test_config_json_credentials_with_a_broken_connection(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    """Credentials from config.json, a token, and retries after dropped connections, all
    traced with --debug: no secret in the trace."""
    gate(proxy, realm)
    proxy.add(DropHalfway())
    write_docker_config(world, {"auths": {proxy.host: auth_entry(USER, PASSWORD)}})
    run = world.run("--debug", "image", "pull", ref_of(proxy, image))
    assert run.returncode == 0, run.explain()
    assert any("drop" in ex.fired for ex in proxy.requests)
    assert_no_secret(run)


def test_identity_token_from_config_json(
    world: CtrpyEnv, proxy: FaultProxy, realm: FaultProxy, image: images.PushedImage
) -> None:
    gate(proxy, realm)
    write_docker_config(world, {"auths": {proxy.host: {"identitytoken": IDENTITY}}})
    run = world.run("--debug", "image", "pull", ref_of(proxy, image))
    assert run.returncode == 0, run.explain()
    posts = realm.find(r"/token", "POST")
    assert posts and f"refresh_token={IDENTITY}".encode() in posts[0].body
    assert_no_secret(run)


def _helper(bin_dir: Path, name: str, servers: dict[str, tuple[str, str]], log: Path) -> None:
    """Install ``docker-credential-<name>``: logs each ``get`` and answers for ``servers``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"servers = {json.dumps(servers)}\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        "if server in servers:\n"
        "    user, secret = servers[server]\n"
        "    print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n"
        "else:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
    )
    script.chmod(0o755)


def with_helper(world: CtrpyEnv, tmp_path: Path, servers: dict[str, tuple[str, str]]) -> Path:
    log = tmp_path / "helper.log"
    _helper(tmp_path / "bin", "ctrpytest", servers, log)
    world.env["PATH"] = f"{tmp_path / 'bin'}:{world.env['PATH']}"
    return log


def test_credential_helper_secret_never_printed(
    world: CtrpyEnv,
    proxy: FaultProxy,
    realm: FaultProxy,
    image: images.PushedImage,
    tmp_path: Path,
) -> None:
    gate(proxy, realm)
    log = with_helper(world, tmp_path, {proxy.host: (USER, PASSWORD)})
    write_docker_config(world, {"credHelpers": {proxy.host: "ctrpytest"}})
    run = world.run("--debug", "image", "pull", ref_of(proxy, image))
    assert run.returncode == 0, run.explain()
    assert log.read_text().split() == ["get", proxy.host]
    assert_no_secret(run)


# --- nothing secret in exceptions and logs (Python API) ------------------------------------------


def _api_failure(options: ClientOptions, ref: str, caplog: pytest.LogCaptureFixture) -> str:
    """Resolve ``ref`` with the client, expect a ctrpy error; everything it produced as text."""
    # Attach to the ctrpy logger itself: a CLI run earlier in this process may have
    # stopped it propagating to the root logger, where caplog listens.
    logger = logging.getLogger("ctrpy")
    old_level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    try:
        with Client(options) as client, pytest.raises(CtrpyError) as info:
            client.resolve(reference.parse(ref))
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)
    exc = info.value
    return "\n".join(
        [
            str(exc),
            repr(exc),
            repr(exc.args),
            str(exc.hint),
            "".join(traceback.format_exception(exc)),
            repr(options),
            caplog.text,
        ]
    )


def test_api_errors_and_logs_hold_no_secret(
    proxy: FaultProxy,
    realm: FaultProxy,
    image: images.PushedImage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate(proxy, realm)
    texts = [
        _api_failure(
            ClientOptions(user=USER, password=WRONG_PASSWORD), ref_of(proxy, image), caplog
        ),
    ]
    # The realm grants a token, the registry refuses it.
    proxy.rules.clear()
    challenge = f'Bearer realm="http://localhost:{realm.port}/token",service="reg"'
    proxy.add(Canned(r"/v2/.*", Response(401, {"WWW-Authenticate": challenge}, b"{}")))
    texts.append(
        _api_failure(ClientOptions(user=USER, password=PASSWORD), ref_of(proxy, image), caplog)
    )
    for text in texts:
        assert leaks(text) == [], text
    assert "Bearer" in caplog.text or "401" in caplog.text, "no debug trace captured"


# --- credentials only for their registry -------------------------------------------------------


def basic_gate(user: str, password: str) -> Canned:
    """Answers 401 (Basic challenge) unless the request carries exactly these credentials."""
    return Canned(
        r"/v2/.*",
        Response(401, {"WWW-Authenticate": 'Basic realm="gated"'}, b"{}"),
        when=lambda ex: ex.authorization != basic(user, password),
    )


@pytest.fixture
def other(registry: Registry) -> Iterator[FaultProxy]:
    """Registry B: another host (another port) in front of the same registry."""
    with FaultProxy(registry.url) as p:
        yield p


def test_config_json_credentials_go_only_to_their_registry(
    world: CtrpyEnv, proxy: FaultProxy, other: FaultProxy, image: images.PushedImage
) -> None:
    """config.json has credentials for A only.  Pulling from B (Basic) sends none to B;
    pulling from A sends A's."""
    proxy.add(basic_gate(USER, PASSWORD))
    other.add(basic_gate(USER, OTHER_PASSWORD))
    write_docker_config(world, {"auths": {proxy.host: auth_entry(USER, PASSWORD)}})
    run_b = world.run("image", "pull", ref_of(other, image))
    assert run_b.returncode == 4, run_b.explain()
    assert {ex.authorization for ex in other.requests} == {None}
    run_a = world.run("image", "pull", ref_of(proxy, image))
    assert run_a.returncode == 0, run_a.explain()
    assert basic(USER, PASSWORD) in {ex.authorization for ex in proxy.requests}


def test_config_json_credentials_not_sent_to_another_registrys_realm(
    world: CtrpyEnv, proxy: FaultProxy, other: FaultProxy, image: images.PushedImage
) -> None:
    """B challenges with Bearer and its own realm: the realm gets an anonymous request,
    not A's credentials; the anonymous token works, so the pull succeeds."""
    with token_realm("t0ken-for-b") as realm_b:
        other.add(bearer_gate(f"{realm_b.url}/token", "b", "t0ken-for-b"))
        write_docker_config(world, {"auths": {proxy.host: auth_entry(USER, PASSWORD)}})
        run = world.run("image", "pull", ref_of(other, image))
        assert run.returncode == 0, run.explain()
        assert realm_b.requests
        assert {ex.authorization for ex in realm_b.requests} == {None}
    assert {ex.authorization for ex in other.requests} <= {None, "Bearer t0ken-for-b"}


@pytest.mark.parametrize("kind", ["credHelpers", "credsStore"])
def test_helper_credentials_go_only_to_their_registry(
    world: CtrpyEnv,
    proxy: FaultProxy,
    other: FaultProxy,
    image: images.PushedImage,
    tmp_path: Path,
    kind: str,
) -> None:
    proxy.add(basic_gate(USER, PASSWORD))
    other.add(basic_gate(USER, OTHER_PASSWORD))
    log = with_helper(world, tmp_path, {proxy.host: (USER, PASSWORD)})
    if kind == "credHelpers":
        write_docker_config(world, {"credHelpers": {proxy.host: "ctrpytest"}})
    else:
        write_docker_config(world, {"credsStore": "ctrpytest"})
    run_b = world.run("image", "pull", ref_of(other, image))
    assert run_b.returncode == 4, run_b.explain()
    assert {ex.authorization for ex in other.requests} == {None}
    asked = log.read_text().split() if log.exists() else []
    if kind == "credHelpers":
        assert asked == [], "the helper for A was asked about B"
    run_a = world.run("image", "pull", ref_of(proxy, image))
    assert run_a.returncode == 0, run_a.explain()
    assert basic(USER, PASSWORD) in {ex.authorization for ex in proxy.requests}


def test_docker_hub_credentials_are_not_sent_to_other_registries(
    world: CtrpyEnv, proxy: FaultProxy, image: images.PushedImage
) -> None:
    proxy.add(basic_gate(USER, PASSWORD))
    write_docker_config(
        world,
        {
            "auths": {
                "https://index.docker.io/v1/": auth_entry(USER, PASSWORD),
                "docker.io": auth_entry(USER, PASSWORD),
            }
        },
    )
    run = world.run("image", "pull", ref_of(proxy, image))
    assert run.returncode == 4, run.explain()
    assert {ex.authorization for ex in proxy.requests} == {None}


def test_registry_credentials_are_not_sent_to_its_mirror(
    world: CtrpyEnv, proxy: FaultProxy, other: FaultProxy, image: images.PushedImage
) -> None:
    """A mirror is another host: A's credentials stay with A.  The mirror refuses, ctrpy
    falls back to A, which accepts them."""
    proxy.add(basic_gate(USER, PASSWORD))
    other.add(basic_gate(USER, OTHER_PASSWORD))
    write_docker_config(world, {"auths": {proxy.host: auth_entry(USER, PASSWORD)}})
    run = world.run("image", "pull", "--mirror", other.url, ref_of(proxy, image))
    assert run.returncode == 0, run.explain()
    assert other.requests, "the mirror was not tried"
    assert {ex.authorization for ex in other.requests} == {None}
    assert basic(USER, PASSWORD) in {ex.authorization for ex in proxy.requests}
