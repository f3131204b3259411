"""The commands people type, against the real registry: click's CliRunner, plus a few real
subprocess runs of the installed ``ctrpy`` entry point."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import socket
import struct
import subprocess
import termios
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from ctrpy.cli.main import cli
from ctrpy.cli.render import human_size
from ctrpy.oci.digest import Digest
from ctrpy.store import Store
from tests.support import ctrpy_script
from tests.support.images import (
    NANOSERVER_OS_VERSION,
    PushedImage,
    StandardImages,
    push,
    simple_image,
)
from tests.support.registry import TEST_PASSWORD, TEST_USER, Registry

AMD64 = ("--platform", "linux/amd64")
ESCAPE = re.compile(r"\x1b|\r")


class Ctrpy:
    """Runs ``ctrpy --root <tmp> ...`` in-process, hermetic (no user config, no colour vars)."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "DOCKER_CONFIG": str(home / ".docker"),
            "CTRPY_HOSTS_DIR": str(home / "no-hosts"),
            "NO_COLOR": None,
            "CTRPY_ROOT": None,
            "CTRPY_DEBUG": None,
        }

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--root", str(self.root), *args],
            input=input,
            env=self.env,
            catch_exceptions=False,
        )

    @property
    def store(self) -> Store:
        return Store(self.root)


@pytest.fixture
def ctrpy(tmp_path: Path) -> Ctrpy:
    return Ctrpy(tmp_path / "store", tmp_path / "home")


@pytest.fixture
def images(registry_images: StandardImages) -> StandardImages:
    return registry_images


def lines(text: str) -> list[str]:
    return text.splitlines()


def status_lines(stderr: str) -> list[tuple[str, str]]:
    """(key, status) of each progress line, the summary left out."""
    out = []
    for line in lines(stderr):
        if line.startswith("elapsed: "):
            continue
        key, status = re.split(r":\s+", line.strip(), maxsplit=1)[0], line.split()[1]
        out.append((key, status))
    return out


def expected_keys(img: PushedImage, platform: str = "linux/amd64") -> list[str]:
    m = img.manifest_for(platform)
    return [
        f"index-{img.digest}",
        f"manifest-{m.digest}",
        f"config-{m.config.digest}",
        *(f"layer-{b.digest}" for b in m.layers),
    ]


# --- pull ---------------------------------------------------------------------------------


def test_pull_in_a_pipe_cold_then_warm(ctrpy: Ctrpy, images: StandardImages) -> None:
    img = images.hello_linux
    ref = img.ref("linux")
    cold = ctrpy("image", "pull", *AMD64, "--max-concurrent-downloads", "1", ref)
    assert cold.exit_code == 0, cold.stderr
    assert cold.stdout == ""
    assert not ESCAPE.search(cold.stderr)
    assert status_lines(cold.stderr) == [
        (ref, "resolved"),
        *((k, "done") for k in expected_keys(img)),
    ]
    summary = lines(cold.stderr)[-1]
    assert re.fullmatch(
        r"elapsed: \d+\.\d s   total: \d+\.\d KiB \(\d+(\.\d)? (B|KiB|MiB)/s\)", summary
    )

    warm = ctrpy("image", "pull", *AMD64, ref)
    assert warm.exit_code == 0, warm.stderr
    assert status_lines(warm.stderr) == [
        (ref, "resolved"),
        *((k, "exists") for k in expected_keys(img)),
    ]
    m = img.manifest_for("linux/amd64")
    stored = human_size(img.size + m.size + sum(b.size for b in m.blobs))  # all of it
    assert re.fullmatch(
        rf"elapsed: \d+\.\d s   total: 0 B fetched, {re.escape(stored)} already stored",
        lines(warm.stderr)[-1],
    )


def test_pull_quiet_prints_nothing(ctrpy: Ctrpy, images: StandardImages) -> None:
    result = ctrpy("image", "pull", "--quiet", *AMD64, images.single_oci.ref())
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert ctrpy.store.images.get(images.single_oci.ref()) is not None


def test_pull_several_refs_with_aliases(ctrpy: Ctrpy, images: StandardImages) -> None:
    refs = [images.shared_app1.ref(), images.shared_app2.ref()]
    result = ctrpy("i", "pull", "-q", *refs)
    assert result.exit_code == 0, result.stderr
    listed = ctrpy("images", "ls", "-q")
    assert lines(listed.stdout) == sorted(refs)


def test_pull_windows_only_tag_exits_3_listing_platforms(
    ctrpy: Ctrpy, images: StandardImages
) -> None:
    ref = images.hello_windows.ref("nanoserver-ltsc2022")
    result = ctrpy("image", "pull", *AMD64, ref)
    assert result.exit_code == 3
    errors = [line for line in lines(result.stderr) if line.startswith(("error:", "hint:"))]
    assert errors == [
        f"error: {ref}: no manifest for platform linux/amd64; the index has: "
        f"windows/amd64 (os.version {NANOSERVER_OS_VERSION})",
        "hint: pick one of them with --platform windows/amd64, or use --all-platforms",
    ]
    assert "Traceback" not in result.stderr
    assert ctrpy.store.images.get(ref) is None
    again = ctrpy("image", "pull", "--platform", "windows/amd64", ref)
    assert again.exit_code == 0, again.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("image", "pull", "Bad//Reference"), 2, "error: invalid reference"),
        (("image", "pull", "--platform", "linux/amd64/v8/x", "a"), 2, "error: "),
        (("image", "pull"), 2, "error: Missing argument 'REF...'."),
        (("image", "pull", "--max-concurrent-downloads", "0", "a"), 2, "error: Invalid value"),
        (("image", "frobnicate"), 2, "error: No such command 'frobnicate'."),
        (("image", "inspect", "nothing-here:1"), 3, "error: image nothing-here:1 is not in"),
        (("image", "rm", "nothing-here:1"), 3, "error: image nothing-here:1 is not in"),
    ],
    ids=["bad-ref", "bad-platform", "no-ref", "zero-downloads", "no-command", "inspect", "rm"],
)
def test_errors_are_one_line_with_exit_code(
    ctrpy: Ctrpy, args: Sequence[str], code: int, message: str
) -> None:
    result = ctrpy(*args)
    assert result.exit_code == code, result.stderr
    assert lines(result.stderr)[0].lower().startswith(message.lower()), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_failed_pull_ends_with_the_error_and_no_summary(
    ctrpy: Ctrpy, images: StandardImages
) -> None:
    ref = f"{images.single_oci.host}/test/single:nope"
    result = ctrpy("image", "pull", ref)
    assert result.exit_code == 3
    assert lines(result.stderr)[0].startswith(f"error: resolving {ref} ")
    assert lines(result.stderr)[1].startswith("hint: ")
    assert len(lines(result.stderr)) == 2
    assert "elapsed:" not in result.stderr


def test_debug_shows_the_traceback(ctrpy: Ctrpy, images: StandardImages) -> None:
    result = ctrpy(
        "--debug", "image", "pull", "--platform", "linux/s390x", images.hello_linux.ref()
    )
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "PlatformNotFound" in result.stderr
    assert "debug: ctrpy.registry" in result.stderr  # the request trace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mirror_failure_is_a_warning_and_the_pull_falls_back(
    ctrpy: Ctrpy, images: StandardImages
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = ctrpy("image", "pull", "--mirror", dead, *AMD64, images.single_oci.ref())
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in lines(result.stderr) if line.startswith("warning: ")]
    assert warnings and dead.split("//")[1] in warnings[0]


def test_user_without_password_is_prompted(
    ctrpy: Ctrpy, auth_registry: Registry, auth_registry_images: StandardImages
) -> None:
    ref = auth_registry_images.single_oci.ref()
    wrong = ctrpy("image", "pull", "-q", "--user", f"{TEST_USER}:wrong", ref)
    assert wrong.exit_code == 4, wrong.stderr
    result = ctrpy("image", "pull", "-q", "--user", TEST_USER, ref, input=TEST_PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert TEST_PASSWORD not in result.stderr + result.stdout
    assert ctrpy.store.images.get(ref) is not None


# --- list, inspect --------------------------------------------------------------------------


@pytest.fixture
def pulled(ctrpy: Ctrpy, images: StandardImages) -> StandardImages:
    for img in (images.hello_linux, images.single_docker):
        result = ctrpy("image", "pull", "-q", *AMD64, img.ref())
        assert result.exit_code == 0, result.stderr
    return images


def test_list_table_quiet_json_and_filters(ctrpy: Ctrpy, pulled: StandardImages) -> None:
    hello, single = pulled.hello_linux, pulled.single_docker
    table = lines(ctrpy("image", "ls").stdout)
    assert table[0].split() == ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    m = hello.manifest_for("linux/amd64")
    hello_size = hello.size + m.size + sum(b.size for b in m.blobs)
    assert rows[hello.ref()][1:3] == ["index", hello.digest]
    assert rows[hello.ref()][5:] == ["linux/amd64,linux/arm64/v8,linux/arm/v7", "-"]
    assert rows[single.ref()][1:3] == ["manifest", single.digest]
    assert rows[single.ref()][5] == "linux/amd64"

    as_json = json.loads(ctrpy("image", "list", "--format", "json").stdout)
    by_name = {row["name"]: row for row in as_json}
    assert by_name[hello.ref()]["size"] == hello_size
    assert by_name[hello.ref()]["platforms"] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    assert by_name[single.ref()]["type"] == "manifest"

    assert lines(ctrpy("image", "ls", "-q").stdout) == sorted([hello.ref(), single.ref()])
    assert lines(ctrpy("image", "ls", "-q", "*/library/*").stdout) == [hello.ref()]
    assert lines(ctrpy("image", "ls", "-q", "*:latest", "*nothing*").stdout) == [single.ref()]
    assert ctrpy("image", "ls", "-q", "nothing*").stdout == ""


def test_inspect_tree_and_json(ctrpy: Ctrpy, pulled: StandardImages) -> None:
    hello = pulled.hello_linux
    m = hello.manifest_for("linux/amd64")
    tree = ctrpy("image", "inspect", hello.ref())
    assert tree.exit_code == 0, tree.stderr
    text = tree.stdout
    assert lines(text)[0] == hello.ref()
    assert hello.digest in lines(text)[1] and "index" in lines(text)[1]
    amd = next(line for line in lines(text) if m.digest in line)
    assert "linux/amd64" in amd and "missing" not in amd
    arm = hello.manifest_for("linux/arm64/v8").digest
    assert re.search(
        r"\d B +missing +application/", next(line for line in lines(text) if arm in line)
    )
    for blob in m.blobs:
        assert blob.digest in text

    doc = json.loads(ctrpy("image", "inspect", "--format", "json", hello.ref()).stdout)
    assert doc["name"] == hello.ref()
    assert doc["document"] == json.loads(hello.data)
    children = {c["descriptor"]["digest"]: c for c in doc["children"]}
    assert children[m.digest]["document"] == json.loads(m.data)
    config = children[m.digest]["children"][0]
    assert config["document"] == json.loads(m.config.data or b"")
    assert children[arm]["present"] is False

    only = ctrpy("image", "inspect", "--platform", "linux/arm64/v8", hello.ref())
    assert arm in only.stdout and m.digest not in only.stdout


# --- digest ---------------------------------------------------------------------------------


def test_digest_prints_only_the_digest_by_one_head(
    ctrpy: Ctrpy, images: StandardImages, registry: Registry
) -> None:
    img = images.hello_linux
    with registry.recording() as requests:
        result = ctrpy("image", "digest", img.ref())
    assert (result.exit_code, result.stdout) == (0, img.digest + "\n")
    assert [(r.method, r.reference) for r in requests] == [("HEAD", "linux")]


def test_digest_for_a_platform_uses_the_stored_index_or_says_it_fetched_it(
    ctrpy: Ctrpy, images: StandardImages, registry: Registry
) -> None:
    img = images.hello_linux
    arm = img.manifest_for("linux/arm64/v8")
    with registry.recording() as cold:
        fetched = ctrpy("image", "digest", "--platform", "linux/arm64/v8", img.ref())
    assert fetched.stdout == arm.digest + "\n"
    assert [(r.method, r.reference) for r in cold] == [("HEAD", "linux"), ("GET", img.digest)]
    assert "counts as a pull" in fetched.stderr

    with registry.recording() as warm:
        stored = ctrpy("image", "digest", "--platform", "linux/arm64/v8", img.ref())
    assert stored.stdout == arm.digest + "\n"
    assert [(r.method, r.reference) for r in warm] == [("HEAD", "linux")]
    assert stored.stderr == ""


def test_digest_check_up_to_date_stale_and_not_stored(
    ctrpy: Ctrpy, images: StandardImages, registry: Registry
) -> None:
    first = push(registry.url, "test/cli-check", simple_image(files={"v": b"1\n"}), ["v"])
    assert ctrpy("image", "pull", "-q", first.ref()).exit_code == 0
    fresh = ctrpy("image", "digest", "--check", first.ref())
    assert (fresh.exit_code, fresh.stdout) == (0, "up to date\n")

    second = push(registry.url, "test/cli-check", simple_image(files={"v": b"2\n"}), ["v"])
    stale = ctrpy("image", "digest", "--check", second.ref())
    assert stale.exit_code == 1
    assert stale.stdout == f"stale (stored {first.digest}, remote {second.digest})\n"

    missing = ctrpy("image", "digest", "--check", images.single_docker.ref())
    assert missing.exit_code == 1
    assert missing.stdout == f"not stored (remote {images.single_docker.digest})\n"

    both = ctrpy("image", "digest", "--check", "--platform", "linux/amd64", first.ref())
    assert both.exit_code == 2 and "--platform does not apply" in both.stderr


def test_digest_json_for_scripts(ctrpy: Ctrpy, images: StandardImages) -> None:
    img = images.hello_linux
    doc = json.loads(ctrpy("image", "digest", "--format", "json", img.ref()).stdout)
    assert doc == {
        "reference": img.ref(),
        "digest": img.digest,
        "mediaType": img.media_type,
        "size": img.size,
        "rateLimit": None,  # the distribution registry sends no rate-limit headers
    }
    arm = img.manifest_for("linux/arm64/v8")
    args = ("image", "digest", "--format", "json", "--platform", "linux/arm64/v8", img.ref())
    doc = json.loads(ctrpy(*args).stdout)
    assert doc == {
        "reference": img.ref(),
        "digest": arm.digest,
        "mediaType": arm.media_type,
        "size": arm.size,
        "platform": "linux/arm64/v8",
        "index": img.digest,
        "fetchedIndex": True,
        "rateLimit": None,
    }

    single = images.single_oci  # a single-manifest tag: no index to name
    args = ("image", "digest", "--format", "json", "--platform", "linux/amd64", single.ref())
    doc = json.loads(ctrpy(*args).stdout)
    assert doc["digest"] == single.digest and "index" not in doc

    checked = ctrpy("image", "digest", "--check", "--format", "json", img.ref())
    assert checked.exit_code == 1  # not pulled yet
    assert json.loads(checked.stdout) == {
        "reference": img.ref(),
        "upToDate": False,
        "stored": None,
        "remote": img.digest,
        "rateLimit": None,
    }


def test_no_manifest_for_the_platform_reads_alike_in_digest_and_inspect(
    ctrpy: Ctrpy, pulled: StandardImages
) -> None:
    """digest and inspect name the wanted platform, list the index's, and say how to pick."""
    ref = pulled.hello_linux.ref()
    offered = "linux/amd64, linux/arm64/v8, linux/arm/v7"
    for command in ("digest", "inspect"):
        result = ctrpy("image", command, "--platform", "windows/amd64", ref)
        assert result.exit_code == 3, (command, result.stderr)
        assert lines(result.stderr) == [
            f"error: {ref}: no manifest for platform windows/amd64; the index has: {offered}",
            "hint: pick one of them with --platform linux/amd64",
        ], command


# --- rm, prune ------------------------------------------------------------------------------


def test_rm_and_prune_json(ctrpy: Ctrpy, images: StandardImages) -> None:
    app1, app2 = images.shared_app1, images.shared_app2
    assert ctrpy("image", "pull", "-q", app1.ref(), app2.ref()).exit_code == 0
    removed = ctrpy("image", "rm", "--format", "json", app1.ref(), "not-there:1")
    assert removed.exit_code == 3
    assert json.loads(removed.stdout) == {"removed": [app1.ref()], "notFound": ["not-there:1"]}

    only_app1 = [b for b in app1.blobs if b not in app2.blobs]
    dry = json.loads(ctrpy("image", "prune", "--dry-run", "--format", "json").stdout)
    assert dry["dryRun"] is True
    assert {r["digest"] for r in dry["removed"]} == {
        app1.manifests[0].digest,
        *(b.digest for b in only_app1),
    }
    assert {r["reason"] for r in dry["removed"]} == {"unreferenced blob"}
    assert dry["bytesFreed"] == sum(r["size"] for r in dry["removed"])
    done = json.loads(ctrpy("image", "prune", "--format", "json").stdout)
    assert (done["dryRun"], done["bytesFreed"]) == (False, dry["bytesFreed"])
    assert json.loads(ctrpy("image", "prune", "--format", "json").stdout) == {
        "dryRun": False,
        "removed": [],
        "bytesFreed": 0,
    }


def test_rm_then_prune_frees_only_what_no_image_uses(ctrpy: Ctrpy, images: StandardImages) -> None:
    app1, app2 = images.shared_app1, images.shared_app2
    assert ctrpy("image", "pull", "-q", app1.ref(), app2.ref()).exit_code == 0
    removed = ctrpy("image", "rm", app1.ref(), "not-there:1")
    assert removed.exit_code == 3
    assert removed.stdout == app1.ref() + "\n"
    assert "not-there:1" in removed.stderr

    only_app1 = [b for b in app1.blobs if b not in app2.blobs]
    expected = app1.manifests[0].size + sum(b.size for b in only_app1)
    dry = ctrpy("image", "prune", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert lines(dry.stdout)[-1] == f"would free {human_size(expected)} (3 files)"
    for digest in [app1.manifests[0].digest, *(b.digest for b in only_app1)]:
        assert digest.split(":")[1] in dry.stdout
    assert ctrpy.store.content.has_digest(Digest.parse(app1.manifests[0].digest))

    done = ctrpy("image", "prune")
    assert done.exit_code == 0, done.stderr
    assert lines(done.stdout)[-1] == f"freed {human_size(expected)} (3 files)"
    store = ctrpy.store
    assert not store.content.has_digest(Digest.parse(app1.manifests[0].digest))
    for blob in app2.blobs:
        assert store.content.has_digest(Digest.parse(blob.digest))
    assert lines(ctrpy("image", "prune").stdout) == ["freed 0 B (0 files)"]


# --- help -----------------------------------------------------------------------------------


def all_commands() -> Iterator[tuple[str, click.Command]]:
    def walk(prefix: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
        yield prefix, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(f"{prefix} {name}", sub)

    yield from walk("ctrpy", cli)


@pytest.mark.parametrize(("path", "command"), list(all_commands()), ids=lambda v: str(v))
def test_every_help_has_a_purpose_explained_options_and_an_example(
    ctrpy: Ctrpy, path: str, command: click.Command
) -> None:
    result = ctrpy(*path.split()[1:], "--help")
    assert result.exit_code == 0
    assert command.get_short_help_str(200).strip()
    assert "Examples:" in result.stdout and "ctrpy " in result.stdout.split("Examples:")[1]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.opts} has no help"


def test_group_help_lists_every_command_with_its_whole_short_help(ctrpy: Ctrpy) -> None:
    result = ctrpy("image", "--help")
    listed = lines(result.stdout.split("Commands:")[1])
    assert [line.split()[0] for line in listed if line.strip()] == [
        "digest", "inspect", "list", "prune", "pull", "rm",
    ]  # fmt: skip
    assert not any(line.rstrip().endswith("...") for line in listed), listed


# --- the installed entry point ----------------------------------------------------------------


def run_installed(
    *args: str, root: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = ctrpy_script()
    assert exe, "the ctrpy console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRPY_")}
    env.update({"CTRPY_ROOT": str(root), "CTRPY_HOSTS_DIR": str(root.parent / "no-hosts")})
    env.update(env_extra or {})
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def run_in_terminal(
    *args: str, root: Path, columns: int, env_extra: dict[str, str] | None = None
) -> str:
    """Run the installed ctrpy with stdout and stderr on a pseudo-terminal ``columns`` wide;
    what it wrote, escape codes included."""
    exe = ctrpy_script()
    assert exe, "the ctrpy console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRPY_") and k != "NO_COLOR"}
    env.update({"CTRPY_ROOT": str(root), "CTRPY_HOSTS_DIR": str(root.parent / "no-hosts")})
    env.update({"COLUMNS": str(columns), "LINES": "40", "TERM": "xterm-256color"})
    env.update(env_extra or {})
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    with subprocess.Popen(
        [exe, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    ) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_ls_and_inspect_on_a_terminal_fit_its_width(
    tmp_path: Path, images: StandardImages, columns: int
) -> None:
    root = tmp_path / "store"
    img = images.hello_linux
    assert run_installed("image", "pull", "-q", *AMD64, img.ref(), root=root).returncode == 0
    for args in (("image", "ls"), ("image", "inspect", img.ref())):
        styled = run_in_terminal(*args, root=root, columns=columns)
        assert "\x1b[1m" in styled  # bold: the header, the name
        text = run_in_terminal(*args, root=root, columns=columns, env_extra={"NO_COLOR": "1"})
        assert "\x1b" not in text  # no colour means no styling at all
        assert all(len(line) <= columns for line in lines(text)), text
        assert img.ref() in text  # the reference whole
        short = img.digest[: len("sha256:") + 12]
        assert (img.digest if columns == 200 else short) in text
        m = img.manifest_for("linux/amd64")
        assert human_size(m.config.size) in text or args[1] == "ls"
        assert "linux/arm64/v8" in text


def test_installed_entry_point_pull_digest_and_exit_codes(
    tmp_path: Path, images: StandardImages
) -> None:
    root = tmp_path / "store"
    img = images.docker_list
    cold = run_installed("image", "pull", *AMD64, img.ref(), root=root)
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout == "" and not ESCAPE.search(cold.stderr)
    assert [s for _, s in status_lines(cold.stderr)] == ["resolved", "done", "done", "done", "done"]

    digest = run_installed("image", "digest", img.ref(), root=root)
    assert (digest.returncode, digest.stdout) == (0, img.digest + "\n")
    by_digest = f"{img.host}/{img.repository}@{digest.stdout.strip()}"
    again = run_installed("image", "pull", *AMD64, by_digest, root=root)
    assert again.returncode == 0
    assert {s for _, s in status_lines(again.stderr)} == {"resolved", "exists"}

    windows = run_installed(
        "image", "pull", images.hello_windows.ref("nanoserver-ltsc2022"), root=root
    )
    assert windows.returncode == 3
    assert "Traceback" not in windows.stderr

    version = run_installed("--version", root=root)
    assert version.returncode == 0 and version.stdout.startswith("ctrpy")


def test_short_docker_hub_names_through_a_hosts_toml_server(
    ctrpy: Ctrpy, images: StandardImages, registry: Registry, tmp_path: Path
) -> None:
    """`hello-world:linux` is docker.io/library/hello-world:linux; hosts.toml sends docker.io to
    the local registry (never to Docker Hub), and every command takes the short name."""
    hosts = tmp_path / "hosts"
    (hosts / "docker.io").mkdir(parents=True)
    (hosts / "docker.io" / "hosts.toml").write_text(f'server = "{registry.url}"\n')
    ctrpy.env["CTRPY_HOSTS_DIR"] = str(hosts)
    img = images.hello_linux
    with registry.recording() as requests:
        pulled = ctrpy("image", "pull", *AMD64, "hello-world:linux")
    assert pulled.exit_code == 0, pulled.stderr
    assert lines(pulled.stderr)[0].startswith("docker.io/library/hello-world:linux:")
    assert requests[0].method == "HEAD" and requests[0].path.endswith("hello-world/manifests/linux")

    assert lines(ctrpy("image", "ls", "-q", "hello-world*").stdout) == [
        "docker.io/library/hello-world:linux"
    ]
    inspect = ctrpy("image", "inspect", "hello-world:linux")
    assert lines(inspect.stdout)[0] == "docker.io/library/hello-world:linux"
    check = ctrpy("image", "digest", "--check", "hello-world:linux")
    assert (check.exit_code, check.stdout) == (0, "up to date\n")
    assert ctrpy("image", "digest", "hello-world:latest").stdout == img.digest + "\n"
    removed = ctrpy("image", "rm", "hello-world:linux")
    assert removed.stdout == "docker.io/library/hello-world:linux\n"
    assert ctrpy("image", "ls", "-q").stdout == ""


def test_pull_goes_on_after_a_failed_reference_and_exits_with_its_code(
    ctrpy: Ctrpy, images: StandardImages
) -> None:
    good = [images.single_oci.ref(), images.single_docker.ref()]
    windows = images.hello_windows.ref("nanoserver-ltsc2022")
    result = ctrpy("image", "pull", *AMD64, good[0], windows, good[1])
    assert result.exit_code == 3
    assert [line for line in lines(result.stderr) if line.startswith("error: ")] == [
        f"error: {windows}: no manifest for platform linux/amd64; the index has: "
        f"windows/amd64 (os.version {NANOSERVER_OS_VERSION})"
    ]
    assert sum(line.startswith("elapsed: ") for line in lines(result.stderr)) == 2
    assert lines(ctrpy("image", "ls", "-q").stdout) == sorted(good)
