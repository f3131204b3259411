"""hosts.toml (containerd's hosts directory format) -> the ordered hosts ctrpy tries.

Expected values follow containerd's core/remotes/docker/config (hosts.go, hosts_test.go) and
docs/hosts.md; where ctrpy differs on purpose the case says so.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrpy.errors import ConfigError
from ctrpy.registry.hosts import (
    ALL_CAPABILITIES,
    MIRROR_CAPABILITIES,
    Host,
    default_hosts_dir,
    host_dir_candidates,
    hosts_for,
    is_loopback,
    parse_hosts_toml,
)


def write_hosts(hosts_dir: Path, dirname: str, text: str) -> Path:
    d = hosts_dir / dirname
    d.mkdir(parents=True, exist_ok=True)
    (d / "hosts.toml").write_text(text)
    return d


def urls(hosts: list[Host]) -> list[str]:
    return [h.url + h.path for h in hosts]


# --- no hosts.toml: the registry's default upstream ---------------------------------------


@pytest.mark.parametrize(
    ("registry", "plain_http", "expected"),
    [
        ("docker.io", False, "https://registry-1.docker.io"),
        ("docker.io", True, "https://registry-1.docker.io"),  # containerd: Hub is https
        ("quay.io", False, "https://quay.io"),
        ("quay.io", True, "http://quay.io"),
        ("example.com:5000", False, "https://example.com:5000"),
        ("example.com:5000", True, "http://example.com:5000"),
        ("localhost", False, "http://localhost"),
        ("localhost:5000", False, "http://localhost:5000"),
        ("LOCALHOST:5000", False, "http://localhost:5000"),
        ("127.0.0.1", False, "http://127.0.0.1"),
        ("127.0.0.1:5000", False, "http://127.0.0.1:5000"),
        ("127.200.3.4:80", False, "http://127.200.3.4:80"),
        ("[::1]", False, "http://[::1]"),
        ("[::1]:5000", False, "http://[::1]:5000"),
        ("128.0.0.1:5000", False, "https://128.0.0.1:5000"),
        ("localhost.example.com", False, "https://localhost.example.com"),
    ],
    ids=lambda v: str(v),
)
def test_default_upstream(registry: str, plain_http: bool, expected: str) -> None:
    assert hosts_for(registry, plain_http=plain_http) == [
        Host(url=expected, path="/v2", capabilities=ALL_CAPABILITIES, is_mirror=False)
    ]


@pytest.mark.parametrize(
    "hosts_dir",
    [
        pytest.param(lambda tmp: None, id="no-hosts-dir"),
        pytest.param(lambda tmp: tmp / "missing", id="hosts-dir-does-not-exist"),
        pytest.param(lambda tmp: tmp, id="empty-hosts-dir"),
        pytest.param(lambda tmp: write_hosts(tmp, "quay.io", "").parent, id="other-registry-only"),
    ],
)
def test_no_hosts_file_means_the_default_upstream(tmp_path: Path, hosts_dir: object) -> None:
    d = hosts_dir(tmp_path)  # type: ignore[operator]
    assert urls(hosts_for("docker.io", hosts_dir=d)) == ["https://registry-1.docker.io/v2"]


def test_hosts_toml_without_server_ends_with_the_default_upstream(tmp_path: Path) -> None:
    write_hosts(
        tmp_path,
        "docker.io",
        'skip_verify = true\n[header]\nx-root = "r"\n'
        '[host."http://127.0.0.1:5001"]\ncapabilities = ["pull"]\n',
    )
    mirror, upstream = hosts_for("docker.io", hosts_dir=tmp_path)
    assert mirror == Host(
        url="http://127.0.0.1:5001", capabilities=frozenset({"pull"}), is_mirror=True
    )
    # containerd keeps the file's root-level TLS and header settings on the default upstream
    assert upstream == Host(
        url="https://registry-1.docker.io",
        skip_verify=True,
        headers={"x-root": ("r",)},
        is_mirror=False,
    )


# --- file order, mirrors first ---------------------------------------------------------------

ORDER_TOML = """\
server = "https://registry-1.docker.io"

[host."https://first.example"]
  capabilities = ["pull"]

[host."http://second.example:5000"]
  capabilities = ["pull", "resolve"]

[host."https://third.example".header]
  x-only = "a header sub-table alone still declares the host"

[host."https://fourth.example"]
"""


@pytest.mark.parametrize(
    ("mirrors", "expected"),
    [
        (
            (),
            [
                "https://first.example/v2",
                "http://second.example:5000/v2",
                "https://third.example/v2",
                "https://fourth.example/v2",
                "https://registry-1.docker.io/v2",
            ],
        ),
        (
            ("http://127.0.0.1:5009", "mirror.example/prefix"),
            [
                "http://127.0.0.1:5009/v2",
                "https://mirror.example/prefix/v2",
                "https://first.example/v2",
                "http://second.example:5000/v2",
                "https://third.example/v2",
                "https://fourth.example/v2",
                "https://registry-1.docker.io/v2",
            ],
        ),
    ],
    ids=["file-order", "mirror-flags-first"],
)
def test_order(tmp_path: Path, mirrors: tuple[str, ...], expected: list[str]) -> None:
    write_hosts(tmp_path, "docker.io", ORDER_TOML)
    assert urls(hosts_for("docker.io", hosts_dir=tmp_path, mirrors=mirrors)) == expected


@pytest.mark.parametrize(
    ("mirror", "plain_http", "url", "path"),
    [
        ("http://127.0.0.1:5001", False, "http://127.0.0.1:5001", "/v2"),
        ("https://mirror.example", False, "https://mirror.example", "/v2"),
        ("HTTPS://Mirror.Example/", False, "https://mirror.example", "/v2"),
        ("mirror.example", False, "https://mirror.example", "/v2"),
        ("mirror.example", True, "http://mirror.example", "/v2"),
        ("127.0.0.1:5001", False, "http://127.0.0.1:5001", "/v2"),
        ("localhost:5001", False, "http://localhost:5001", "/v2"),
        ("https://mirror.example/v2", False, "https://mirror.example", "/v2"),
        ("https://mirror.example/hub", False, "https://mirror.example", "/hub/v2"),
    ],
    ids=lambda v: str(v),
)
def test_mirror_flag(mirror: str, plain_http: bool, url: str, path: str) -> None:
    first, upstream = hosts_for("quay.io", mirrors=[mirror], plain_http=plain_http)
    assert first == Host(url=url, path=path, capabilities=MIRROR_CAPABILITIES, is_mirror=True)
    assert upstream.url == ("http://quay.io" if plain_http else "https://quay.io")


@pytest.mark.parametrize(
    "mirror", ["ftp://mirror.example", "http://", "http://a b", "http://h:99999", "http://u@h"]
)
def test_bad_mirror_flag(mirror: str) -> None:
    with pytest.raises(ConfigError, match="--mirror"):
        hosts_for("docker.io", mirrors=[mirror])


# --- per-host settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    toml: str  # the body of [host."https://m.example"]
    field: str
    expected: object
    skip_verify: bool = False
    ca_file: str | None = None


SETTINGS = [
    Case("caps-default-all", "", "capabilities", ALL_CAPABILITIES),
    Case("caps-empty-list-all", "capabilities = []", "capabilities", ALL_CAPABILITIES),
    Case("caps-pull", 'capabilities = ["pull"]', "capabilities", frozenset({"pull"})),
    Case(
        "caps-case-insensitive",
        'capabilities = ["PULL", "Resolve"]',
        "capabilities",
        frozenset({"pull", "resolve"}),
    ),
    Case("caps-push-only", 'capabilities = ["push"]', "capabilities", frozenset({"push"})),
    Case(
        "caps-referrers-accepted",
        'capabilities = ["pull", "referrers"]',
        "capabilities",
        frozenset({"pull", "referrers"}),
    ),
    Case("skip-verify-default", "", "skip_verify", False),
    Case("skip-verify-true", "skip_verify = true", "skip_verify", True),
    Case("skip-verify-from-flag", "", "skip_verify", True, skip_verify=True),
    Case("skip-verify-false-beats-flag", "skip_verify = false", "skip_verify", False, True),
    Case("ca-absolute", 'ca = "/etc/certs/m.pem"', "ca", ("/etc/certs/m.pem",)),
    Case("ca-relative-to-file", 'ca = "m.crt"', "ca", ("{dir}/m.crt",)),
    Case("ca-list", 'ca = ["/a.pem", "sub/b.pem"]', "ca", ("/a.pem", "{dir}/sub/b.pem")),
    Case("ca-flag-first", 'ca = "/a.pem"', "ca", ("/flag.pem", "/a.pem"), ca_file="/flag.pem"),
    Case("ca-flag-only", "", "ca", ("/flag.pem",), ca_file="/flag.pem"),
    Case("header-none", "", "headers", {}),
    Case(
        "header-string",
        '[host."https://m.example".header]\nx-custom-1 = "custom header"',
        "headers",
        {"x-custom-1": ("custom header",)},
    ),
    Case(
        "header-list",
        '[host."https://m.example".header]\nx-custom-2 = ["value1", "value2"]',
        "headers",
        {"x-custom-2": ("value1", "value2")},
    ),
    Case(
        "header-inline-table",
        'header = { x-a = "1", X-B = ["2", "3"] }',
        "headers",
        {"x-a": ("1",), "X-B": ("2", "3")},
    ),
    Case("client-parsed-and-ignored", 'client = [["/c.cert", "/c.key"], "/c.pem"]', "ca", ()),
    Case("dial-timeout-parsed-and-ignored", 'dial_timeout = "1.5s"', "path", "/v2"),
    Case("unknown-keys-ignored", 'proxy = "http://p:3128"\nfuture = 1', "path", "/v2"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=[c.id for c in SETTINGS])
def test_host_settings(tmp_path: Path, case: Case) -> None:
    d = write_hosts(tmp_path, "quay.io", f'[host."https://m.example"]\n{case.toml}\n')
    host, _upstream = hosts_for(
        "quay.io", hosts_dir=tmp_path, skip_verify=case.skip_verify, ca_file=case.ca_file
    )
    expected = case.expected
    if isinstance(expected, tuple):
        expected = tuple(str(e).format(dir=d) for e in expected)
    assert getattr(host, case.field) == expected


@pytest.mark.parametrize(
    ("url", "override_path", "expected"),
    [
        ("https://m.example", False, "https://m.example/v2"),
        ("https://m.example/", False, "https://m.example/v2"),
        ("https://m.example/v2", False, "https://m.example/v2"),
        ("https://m.example/us", False, "https://m.example/us/v2"),
        ("https://m.example//us/./x/../", False, "https://m.example/us/v2"),
        ("https://m.example/v2/namespaceprefix", True, "https://m.example/v2/namespaceprefix"),
        ("https://m.example", True, "https://m.example"),
        ("http://M.Example:8080", False, "http://m.example:8080/v2"),
        ("m.example", False, "https://m.example/v2"),  # containerd: no scheme -> https
        ("127.0.0.1:5001", False, "https://127.0.0.1:5001/v2"),  # ... even for loopback
        ("HTTP://m.example", False, "http://m.example/v2"),
        ("http://[::1]:5001", False, "http://[::1]:5001/v2"),
    ],
    ids=lambda v: str(v),
)
def test_host_url_and_override_path(url: str, override_path: bool, expected: str) -> None:
    text = f'[host."{url}"]\noverride_path = {str(override_path).lower()}\n'
    host, _ = parse_hosts_toml(text, "quay.io")
    assert host.base_url == expected


def test_server_gets_all_capabilities_unless_given(tmp_path: Path) -> None:
    text = 'server = "https://upstream.example"\n[host."https://m.example"]\n'
    assert parse_hosts_toml(text, "quay.io")[-1].capabilities == ALL_CAPABILITIES
    text = 'server = "https://upstream.example"\ncapabilities = ["pull", "resolve"]\n'
    assert parse_hosts_toml(text, "quay.io")[-1].capabilities == MIRROR_CAPABILITIES


def test_can_filters_by_capability() -> None:
    hosts = parse_hosts_toml(
        '[host."https://pull-only.example"]\ncapabilities = ["pull"]\n'
        '[host."https://pull-resolve.example"]\ncapabilities = ["pull", "resolve"]\n',
        "quay.io",
    )
    assert [h.authority for h in hosts if h.can("resolve")] == ["pull-resolve.example", "quay.io"]
    assert [h.authority for h in hosts if h.can("pull")] == [
        "pull-only.example",
        "pull-resolve.example",
        "quay.io",
    ]
    assert [h.authority for h in hosts if h.can("push")] == ["quay.io"]


# --- is_mirror (?ns=) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "server", "is_mirror"),
    [
        ("docker.io", "https://registry-1.docker.io", False),
        ("docker.io", "https://docker.io", False),
        ("docker.io", "http://127.0.0.1:5000", True),
        ("docker.io", "https://mirror.gcr.io", True),
        ("quay.io", "https://quay.io", False),
        ("quay.io", "https://QUAY.io", False),
        ("quay.io", "https://registry-1.docker.io", True),
        ("127.0.0.1:5000", "http://127.0.0.1:5000", False),
        ("127.0.0.1:5000", "http://127.0.0.1:5001", True),
        ("127.0.0.1:5000", "http://127.0.0.1", True),
        ("127.0.0.1:5000", "http://localhost:5000", True),
    ],
    ids=lambda v: str(v),
)
def test_is_mirror(registry: str, server: str, is_mirror: bool) -> None:
    (host,) = parse_hosts_toml(f'server = "{server}"\n', registry)
    assert host.is_mirror is is_mirror


# --- the hosts directory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "dirs", "chosen"),
    [
        ("docker.io", ["docker.io", "_default"], "docker.io"),
        ("docker.io", ["_default"], "_default"),
        ("docker.io", ["quay.io"], None),
        ("127.0.0.1:5000", ["127.0.0.1_5000_", "127.0.0.1:5000", "_default"], "127.0.0.1_5000_"),
        ("127.0.0.1:5000", ["127.0.0.1:5000", "_default"], "127.0.0.1:5000"),
        ("127.0.0.1:5000", ["127.0.0.1", "_default"], "_default"),
        ("127.0.0.1:5000", ["127.0.0.1"], None),
        ("[::1]:5000", ["[::1]_5000_", "[::1]:5000"], "[::1]_5000_"),
        ("[::1]:5000", ["[::1]:5000"], "[::1]:5000"),
        ("localhost", ["localhost_", "localhost"], "localhost"),
    ],
    ids=lambda v: str(v),
)
def test_host_directory_lookup(
    tmp_path: Path, registry: str, dirs: list[str], chosen: str | None
) -> None:
    for i, name in enumerate(dirs):
        write_hosts(tmp_path, name, f'[host."http://mirror-{i}.example"]\n')
    hosts = hosts_for(registry, hosts_dir=tmp_path)
    if chosen is None:
        assert len(hosts) == 1
        assert not hosts[0].is_mirror
    else:
        assert hosts[0].url == f"http://mirror-{dirs.index(chosen)}.example"


def test_host_dir_candidates() -> None:
    root = Path("certs.d")
    assert host_dir_candidates(root, "myregistry.io:5000") == [
        root / "myregistry.io_5000_",
        root / "myregistry.io:5000",
        root / "_default",
    ]
    assert host_dir_candidates(root, "docker.io") == [root / "docker.io", root / "_default"]


def test_directory_without_hosts_toml_uses_its_crt_files_and_stops_there(tmp_path: Path) -> None:
    d = tmp_path / "quay.io"
    d.mkdir()
    for name in ("b.crt", "a.crt", "client.cert", "client.key", "notes.txt"):
        (d / name).write_text("")
    (d / "dir.crt").mkdir()
    write_hosts(tmp_path, "_default", '[host."http://never.example"]\n')
    assert hosts_for("quay.io", hosts_dir=tmp_path) == [
        Host(url="https://quay.io", ca=(str(d / "a.crt"), str(d / "b.crt")))
    ]


def test_empty_hosts_toml_is_like_none(tmp_path: Path) -> None:
    write_hosts(tmp_path, "quay.io", "")
    assert hosts_for("quay.io", hosts_dir=tmp_path) == [Host(url="https://quay.io")]


@pytest.mark.parametrize(
    ("user_dir", "system_dir", "expected"),
    [
        (True, True, "user"),
        (True, False, "user"),
        (False, True, "system"),
        (False, False, None),
    ],
    ids=["both-user-wins", "user-only", "system-only", "neither"],
)
def test_default_hosts_dir(
    tmp_path: Path, user_dir: bool, system_dir: bool, expected: str | None
) -> None:
    user, system = tmp_path / "config" / "ctrpy", tmp_path / "etc" / "certs.d"
    user.mkdir(parents=True)
    if user_dir:
        (user / "certs.d").mkdir()
    if system_dir:
        system.mkdir(parents=True)
    found = default_hosts_dir(user, system_dir=system)
    assert found == {"user": user / "certs.d", "system": system, None: None}[expected]


def test_default_hosts_dir_ignores_a_file_named_certs_d(tmp_path: Path) -> None:
    (tmp_path / "certs.d").write_text("")
    assert default_hosts_dir(tmp_path, system_dir=tmp_path / "nope") is None


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1", True),
        ("127.255.255.254:1", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("example.com", False),
        ("[::2]:5000", False),
        ("", False),
    ],
    ids=lambda v: str(v) or "empty",
)
def test_is_loopback(authority: str, expected: bool) -> None:
    assert is_loopback(authority) is expected


# --- malformed files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('server = "https://a"\n\n[host."https://b"\ncapabilities = ["pull"]\n', ["line 3"]),
        ('server = "https://a"\nserver = "https://b"\n', ["line 2", "invalid TOML"]),
        ("capabilities = [\n", ["at end of document, line 2", "invalid TOML"]),
        ('[host."https://m"]\ncapabilities = "pull"\n', ['host."https://m".capabilities']),
        ('[host."https://m"]\ncapabilities = ["pul"]\n', ["unknown capability 'pul'"]),
        ('[host."https://m"]\ncapabilities = ["pull", 1]\n', ["capabilities", "list of strings"]),
        ('capabilities = ["fetch"]\n', ["capabilities: unknown capability 'fetch'"]),
        ('[host."https://m"]\nskip_verify = "yes"\n', ["skip_verify", "true or false"]),
        ('[host."https://m"]\nca = 1\n', ['host."https://m".ca', "number 1"]),
        ('[host."https://m"]\nca = ["a", 2]\n', ["ca", "list of paths"]),
        ('[host."https://m"]\noverride_path = 1\n', ["override_path"]),
        ('[host."https://m".header]\nx-a = 1\n', ['host."https://m".header.x-a']),
        ('[host."https://m".header]\nx-a = [1]\n', ["header.x-a", "list of strings"]),
        ('[host."https://m".header]\n"bad name" = "v"\n', ["not a valid HTTP header name"]),
        ('[host."https://m".header]\nx-a = "a\\r\\nb"\n', ["cannot span lines"]),
        ('header = "x"\n', ["header: expected a table"]),
        ('[host."https://m"]\nclient = [["only-one"]]\n', ["client"]),
        ('[host."https://m"]\nclient = 5\n', ["client"]),
        ('[host."https://m"]\ndial_timeout = "soon"\n', ["dial_timeout"]),
        ("server = 5000\n", ["server: expected a string"]),
        ('host = "https://m"\n', ["host: expected tables"]),
        ('[[host."https://m"]]\n', ['host."https://m": expected a table']),
        ('server = "ftp://a"\n', ["server", "http or https"]),
        ('server = "https://"\n', ["server", "valid host"]),
        ('[host."http://:5000"]\n', ['host."http://:5000"', "valid host"]),
        ('[host."http://h:70000"]\n', ["invalid URL"]),
        ('[host."https://[::1"]\n', ["invalid URL"]),
        ('[host."https://m?x=1"]\n', ["query"]),
        ('[host.""]\n', ['host.""']),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_hosts_toml(tmp_path: Path, text: str, fragments: list[str]) -> None:
    d = write_hosts(tmp_path, "docker.io", text)
    with pytest.raises(ConfigError) as info:
        hosts_for("docker.io", hosts_dir=tmp_path)
    message = str(info.value)
    assert str(d / "hosts.toml") in message
    for fragment in fragments:
        assert fragment in message
    assert info.value.exit_code == 2
    assert info.value.hint


def test_hosts_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="a-file: not a directory"):
        hosts_for("docker.io", hosts_dir=tmp_path / "a-file")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    d = tmp_path / "docker.io"
    d.mkdir()
    (d / "hosts.toml").write_bytes(b'server = "https://a"\n# \xff\n')
    with pytest.raises(ConfigError, match=r"hosts\.toml: not UTF-8 text \(at line 2"):
        hosts_for("docker.io", hosts_dir=tmp_path)


def test_unreadable_hosts_toml(tmp_path: Path) -> None:
    (tmp_path / "docker.io" / "hosts.toml").mkdir(parents=True)  # a directory, not a file
    with pytest.raises(ConfigError, match=r"hosts\.toml: cannot read"):
        hosts_for("docker.io", hosts_dir=tmp_path)


# --- fuzz: whatever the text, ConfigError or a list of hosts -----------------------------

FRAGMENTS = [
    'server = "https://registry-1.docker.io"',
    'server = "127.0.0.1:5000"',
    "server = 1",
    '[host."http://127.0.0.1:5001"]',
    '[host."https://m.example/v2/x"]',
    '[host."https://m.example".header]',
    "[host]",
    "[[host]]",
    "[header]",
    'capabilities = ["pull", "resolve"]',
    'capabilities = ["push", "bogus"]',
    "capabilities = []",
    "skip_verify = true",
    'ca = ["a.crt", "/b.crt"]',
    'client = [["c", "k"]]',
    "override_path = true",
    'x-a = ["1", "2"]',
    'dial_timeout = "1s"',
    "host = {}",
    '"' * 3,
    "=",
    "[",
]


def toml_ish() -> st.SearchStrategy[str]:
    line = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(max_size=40),
        st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(["server", "ca", "x"]), st.text()),
    )
    return st.lists(line, max_size=12).map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(toml_ish(), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_fuzz_only_config_errors(text: str) -> None:
    try:
        hosts = parse_hosts_toml(text, "docker.io", path=Path("fuzz/hosts.toml"))
    except ConfigError as exc:
        assert "fuzz/hosts.toml" in str(exc)
    else:
        assert hosts
        assert hosts[-1].url.startswith(("http://", "https://"))


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzz_bytes_through_the_directory(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "docker.io"
        d.mkdir()
        (d / "hosts.toml").write_bytes(data)
        try:
            hosts_for("docker.io", hosts_dir=Path(tmp))
        except ConfigError as exc:
            assert str(d / "hosts.toml") in str(exc)
