"""completions/ and man/ match the CLI; the man page renders cleanly; image names complete.

When a sync test fails: run `python3 -m ctrpy.cli.gendocs` and commit completions/ and man/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from ctrpy.cli import gendocs
from ctrpy.cli.completion import candidates, stored_names
from ctrpy.cli.main import cli
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.store import Store

REPO = Path(__file__).resolve().parents[2]
GENERATED = gendocs.render_all()
REGENERATE = "out of date: run `python3 -m ctrpy.cli.gendocs` and commit completions/ and man/"

# --- in sync -------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(GENERATED), ids=str)
def test_committed_file_matches_the_cli(rel: str) -> None:
    committed = (REPO / rel).read_text(encoding="utf-8")
    assert committed == GENERATED[rel], f"{rel} is {REGENERATE}"


def test_generator_writes_then_check_passes_then_flags_an_edit(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(gendocs.main, ["--check", "--dir", str(tmp_path)])
    assert missing.exit_code == 1
    assert sorted(line.removeprefix("out of date: ") for line in _lines(missing.stderr)[:-1]) == (
        sorted(GENERATED)
    )

    wrote = runner.invoke(gendocs.main, ["--dir", str(tmp_path)])
    assert wrote.exit_code == 0, wrote.output
    assert runner.invoke(gendocs.main, ["--check", "--dir", str(tmp_path)]).exit_code == 0

    page = tmp_path / "man" / "ctrpy.1"
    page.write_text(page.read_text() + '.\\" hand edit\n')
    edited = runner.invoke(gendocs.main, ["--check", "--dir", str(tmp_path)])
    assert edited.exit_code == 1
    assert "out of date: man/ctrpy.1" in edited.stderr
    assert "completions" not in edited.stderr


def test_a_new_option_makes_the_files_stale() -> None:
    """The generated text follows the click tree (so the sync test can fail)."""

    @click.command()
    @click.option("--brand-new", is_flag=True, help="Something the docs do not know yet.")
    def extra(brand_new: bool) -> None:
        """A command added after the docs were written."""

    image = click.Group("image", commands=[extra], help="Images.")
    grown = click.Group("ctrpy", commands=[image], help="Pull images.")
    files = gendocs.render_all(grown)
    assert "\\fB\\-\\-brand\\-new\\fR" in files["man/ctrpy.1"]
    assert files["man/ctrpy.1"] != GENERATED["man/ctrpy.1"]


# --- the man page ----------------------------------------------------------------------------

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "ENVIRONMENT", "FILES"]
SECTIONS += ["EXIT STATUS", "EXAMPLES"]


def _groff(page: Path, width: int) -> subprocess.CompletedProcess[str]:
    groff = shutil.which("groff")
    assert groff, "groff is missing: apt-get install groff-base (bash .ci/run does)"
    return subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", f"-rLL={width}n", "-P-cbou", str(page)],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        check=False,
    )


@pytest.fixture(scope="module")
def rendered() -> str:
    done = _groff(REPO / "man" / "ctrpy.1", 78)
    assert done.returncode == 0
    return done.stdout


@pytest.mark.parametrize("width", [60, 78, 120], ids=lambda w: f"{w}-columns")
def test_man_page_renders_without_warnings(width: int) -> None:
    done = _groff(REPO / "man" / "ctrpy.1", width)
    assert done.returncode == 0
    assert done.stderr == ""
    assert "\\f" not in done.stdout and "\\e" not in done.stdout  # no escape shown as text


@pytest.mark.parametrize("section", SECTIONS, ids=str)
def test_man_page_has_section(rendered: str, section: str) -> None:
    assert f"\n{section}\n" in rendered


def _options() -> list[tuple[str, str]]:
    out = []
    for node in gendocs.walk():
        for param in node.command.get_params(node.ctx):
            if isinstance(param, click.Option):
                out.extend((node.path, opt) for opt in param.opts)
    return out


@pytest.mark.parametrize("node", list(gendocs.walk()), ids=lambda n: n.path)
def test_man_page_has_every_command(rendered: str, node: gendocs.Node) -> None:
    assert node.path in rendered


@pytest.mark.parametrize(("path", "option"), _options(), ids=lambda v: v)
def test_man_page_has_every_option(rendered: str, path: str, option: str) -> None:
    if path == "ctrpy":
        section = rendered[rendered.index("\nOPTIONS\n") : rendered.index("\nCOMMANDS\n")]
    else:
        start = rendered.index(f"\n   {path}\n")
        end = min(
            rendered.find(mark, start + 1) % len(rendered) for mark in ("\n   ctrpy", "\nENV")
        )
        section = rendered[start:end]
    assert f" {option}" in section


@pytest.mark.parametrize(
    "text",
    ["CTRPY_ROOT", "CTRPY_HOSTS_DIR", "NO_COLOR", "DOCKER_CONFIG", "hosts.toml", "blobs/sha256"]
    + ["io.containerd.image.name", "ctrpy image pull hello-world:linux"]
    + [f"\n       {code} " for code in (0, 1, 2, 3, 4, 5, 130)],
    ids=repr,
)
def test_man_page_mentions(rendered: str, text: str) -> None:
    assert text in rendered


# --- dynamic completion of stored image names ------------------------------------------------

NAMES = [
    "docker.io/library/hello-world:linux",
    "docker.io/library/hello-world:latest",
    "docker.io/example/app:1.0",
    "127.0.0.1:5000/shared/app1:latest",
]


@pytest.fixture
def store_with_names(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    store = Store(root)
    body = b'{"schemaVersion": 2, "mediaType": "' + mediatypes.OCI_INDEX.encode() + b'"}'
    target = Descriptor(mediatypes.OCI_INDEX, Digest.of(body), len(body))
    for name in NAMES:
        store.images.put(name, target)
    return root


def _complete(args: list[str], incomplete: str) -> list[str]:
    comp = ShellComplete(cli, {}, "ctrpy", "_CTRPY_COMPLETE")
    return [item.value for item in comp.get_completions(args, incomplete)]


SHORT = ["127.0.0.1:5000/shared/app1:latest", "example/app:1.0"]
SHORT += ["hello-world:latest", "hello-world:linux"]


@pytest.mark.parametrize(
    ("words", "incomplete", "expected"),
    [
        (["image", "inspect"], "", SHORT),
        (["image", "inspect"], "hello-world:li", ["hello-world:linux"]),
        (["image", "inspect"], "docker.io/library/", NAMES[1::-1]),
        (["image", "digest", "--check"], "ex", ["example/app:1.0"]),
        (["i", "rm"], "127.0.0.1:5000/", ["127.0.0.1:5000/shared/app1:latest"]),
        (["images", "rm", "hello-world:linux"], "hello", ["hello-world:latest"]),
        (["image", "inspect"], "nginx", []),
    ],
    ids=["all-short", "tag", "full-name", "digest", "rm-alias", "rm-skips-given", "no-match"],
)
def test_stored_names_complete(
    store_with_names: Path, words: list[str], incomplete: str, expected: list[str]
) -> None:
    assert _complete(["--root", str(store_with_names), *words], incomplete) == expected


def test_root_from_environment(store_with_names: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTRPY_ROOT", str(store_with_names))
    assert _complete(["image", "inspect"], "hello-world:la") == ["hello-world:latest"]


@pytest.mark.parametrize(
    "index_json",
    [
        None,
        b"",
        b"{not json",
        b"[]",
        b'{"manifests": 3}',
        b'{"manifests": [1, {"annotations": 2}]}',
    ],
    ids=["no-store", "empty", "bad-json", "array", "manifests-not-list", "odd-entries"],
)
def test_broken_store_completes_nothing(tmp_path: Path, index_json: bytes | None) -> None:
    if index_json is not None:
        (tmp_path / "index.json").write_bytes(index_json)
    assert stored_names(tmp_path) == []
    assert _complete(["--root", str(tmp_path), "image", "inspect"], "") == []


def test_names_other_tools_wrote_complete(tmp_path: Path) -> None:
    """skopeo writes only org.opencontainers.image.ref.name."""
    (tmp_path / "index.json").write_text(
        '{"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "sha256:0", "size": 1,'
        ' "annotations": {"org.opencontainers.image.ref.name": "quay.io/a/b:1"}}]}'
    )
    assert stored_names(tmp_path) == ["quay.io/a/b:1"]
    assert candidates(stored_names(tmp_path), "quay") == ["quay.io/a/b:1"]


def test_bash_complete_protocol(store_with_names: Path) -> None:
    """What the bash script asks for: COMP_WORDS and COMP_CWORD in the environment."""
    result = CliRunner().invoke(
        cli,
        prog_name="ctrpy",
        env={
            "_CTRPY_COMPLETE": "bash_complete",
            "COMP_WORDS": f"ctrpy --root {store_with_names} image inspect hello-world:li",
            "COMP_CWORD": "5",
        },
    )
    assert result.exit_code == 0
    assert result.output == "plain,hello-world:linux\n"


def _bash_complete(store: Path, tmp_path: Path, line: str) -> list[str]:
    """Complete ``line`` in a real bash with completions/ctrpy.bash, split as readline splits."""
    bash = shutil.which("bash")
    assert bash
    wrapper = tmp_path / "ctrpy"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ctrpy "$@"\n')
    wrapper.chmod(0o755)
    script = r"""
source "$1"
line=$2
words=$(sed -E 's/([:=])/ \1 /g' <<< "$line")
read -ra COMP_WORDS <<< "$words"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
_ctrpy_completion "$3" ctrpy
printf '%s\n' "${COMPREPLY[@]}"
"""
    completions = REPO / "completions" / "ctrpy.bash"
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script, "bash", str(completions), line, str(wrapper)],
        capture_output=True,
        text=True,
        env={**os.environ, "CTRPY_ROOT": str(store), "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # bash replaces only the piece after the last ':', so that is what it gets
        ("ctrpy image inspect hello-world:li", ["linux"]),
        ("ctrpy image inspect hello-world:", [":latest", ":linux"]),
        ("ctrpy image rm 127.0.0.1:5000/sh", ["5000/shared/app1:latest"]),
        ("ctrpy image digest exa", ["example/app:1.0"]),
        ("ctrpy image ls --format=j", ["json"]),
        ("ctrpy im", ["image"]),
    ],
    ids=["tag", "colon", "port", "digest", "option-equals", "command"],
)
def test_bash_script_completes_names_with_colons(
    store_with_names: Path, tmp_path: Path, line: str, expected: list[str]
) -> None:
    assert _bash_complete(store_with_names, tmp_path, line) == expected


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]
