"""Write the shell completions and the man page from the click app.

    python3 -m ctrpy.cli.gendocs            # (re)write completions/ and man/ in the checkout
    python3 -m ctrpy.cli.gendocs --check    # exit 1 and name the files that are out of date

The files are committed: run this after changing a command, an option or a help text
(tests/unit/test_docs_sync.py fails until you do).  Output is deterministic: no dates, no
paths of the machine it ran on.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from ctrpy import __version__, errors
from ctrpy.cli import completion  # noqa: F401  (registers ctrpy's bash script with click)
from ctrpy.cli.errors import INTERRUPTED
from ctrpy.cli.group import AliasedGroup
from ctrpy.cli.main import cli

PROG = "ctrpy"
COMPLETE_VAR = "_CTRPY_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

# --- completions --------------------------------------------------------------------------


def render_completion(shell: str, command: click.Command = cli) -> str:
    """The script ``_CTRPY_COMPLETE=<shell>_source ctrpy`` prints (without its bash check)."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.ClickException(f"click has no completion for {shell}")
    comp = cls(command, {}, PROG, COMPLETE_VAR)
    return (comp.source_template % comp.source_vars()).rstrip("\n") + "\n"


# --- roff ----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text for a roff line: backslashes escaped, option dashes as \\-, `code` in bold."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w-])(--?)(?=[A-Za-z])", lambda m: "\\-" * len(m.group(1)), text)
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)


def literal(line: str) -> str:
    """A line of a preformatted (.nf) block: every dash a \\- so it copies as ASCII."""
    return _guard(line.replace("\\", "\\e").replace("-", "\\-"))


def _guard(line: str) -> str:
    """A line that starts with . or ' would be a roff request: neutralize it."""
    return "\\&" + line if line.startswith((".", "'")) else line


def text_block(text: str) -> list[str]:
    """click help or epilog text (paragraphs, ``\\b`` for no-rewrap ones) as roff lines.

    In a ``\\b`` paragraph, indented lines are examples (preformatted, indented) and the
    others headings such as ``Examples:``.
    """
    out: list[str] = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines = para.splitlines()
        if not lines:
            continue
        out.append(".PP")
        if lines[0].strip() != "\b":
            out.append(_guard(escape(" ".join(line.strip() for line in lines))))
            continue
        code: list[str] = []
        for line in [*lines[1:], ""]:
            if line.startswith((" ", "\t")):
                code.append(line.strip())
                continue
            if code:
                out.extend([".RS 4", ".nf", *map(literal, code), ".fi", ".RE"])
                code = []
            if line.strip():
                out.extend([_guard(escape(line.strip())), ".br"])
    return out


def _metavars(pieces: list[str]) -> str:
    """Usage pieces (``[OPTIONS]``, ``REF...``) with the metavars in italics."""
    return " ".join(
        re.sub(r"[A-Z][A-Z_]*", lambda m: f"\\fI{m.group(0)}\\fR", escape(piece))
        for piece in pieces
    )


def _usage_line(path: str, pieces: list[str]) -> str:
    """``ctrpy image pull [OPTIONS] REF...`` with the command bold and the metavars italic."""
    return f"\\fB{escape(path)}\\fR {_metavars(pieces)}".rstrip()


def _option_lines(param: click.Parameter, ctx: click.Context) -> list[str]:
    # Arguments are in the synopsis; only options get entries (click >= 8.5 also gives
    # arguments a help record, which would make the page depend on click's version).
    if not isinstance(param, click.Option):
        return []
    record = param.get_help_record(ctx)
    if record is None:
        return []
    names, help_text = record
    parts = []
    for spec in names.split(", "):
        name, _, metavar = spec.partition(" ")
        part = "\\fB" + name.replace("-", "\\-") + "\\fR"
        if metavar:
            part += f" \\fI{escape(metavar)}\\fR"
        parts.append(part)
    return [".TP", ", ".join(parts), _guard(escape(" ".join(help_text.split())))]


@dataclass(frozen=True)
class Node:
    """A command of the tree with the context it runs in (for usage and help records)."""

    path: str
    command: click.Command
    ctx: click.Context
    aliases: tuple[str, ...]


def walk(command: click.Command = cli) -> Iterator[Node]:
    """The root, then every group and command, depth first, in help order."""
    root_ctx = click.Context(command, info_name=PROG, **command.context_settings)
    yield Node(PROG, command, root_ctx, ())
    yield from _children(command, root_ctx)


def _children(group: click.Command, ctx: click.Context) -> Iterator[Node]:
    if not isinstance(group, click.Group):
        return
    aliases: Mapping[str, str] = group.aliases if isinstance(group, AliasedGroup) else {}
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
        known = tuple(alias for alias, target in aliases.items() if target == name)
        yield Node(sub_ctx.command_path, sub, sub_ctx, known)
        yield from _children(sub, sub_ctx)


ENVIRONMENT = [
    ("CTRPY_ROOT", "The store directory, as \\fB\\-\\-root\\fR."),
    ("CTRPY_HOSTS_DIR", "The hosts directory for mirrors, as \\fB\\-\\-hosts\\-dir\\fR."),
    ("CTRPY_DEBUG", "1, true, yes or on: as \\fB\\-\\-debug\\fR."),
    (
        "NO_COLOR",
        "When set to a non-empty value, no colours (as \\fB\\-\\-no\\-color\\fR); see "
        "https://no\\-color.org.",
    ),
    (
        "DOCKER_CONFIG",
        "The directory of Docker's \\fIconfig.json\\fR, read for credentials "
        "(default: \\fI\\(ti/.docker\\fR).",
    ),
    (
        "XDG_DATA_HOME, XDG_CONFIG_HOME",
        "Where the default store (\\fI$XDG_DATA_HOME/ctrpy\\fR, else "
        "\\fI\\(ti/.local/share/ctrpy\\fR) and the default hosts directory "
        "(\\fI$XDG_CONFIG_HOME/ctrpy/certs.d\\fR, else \\fI\\(ti/.config/ctrpy/certs.d\\fR) "
        "are.",
    ),
]

FILES = [
    (
        "\\(ti/.local/share/ctrpy/",
        "The default store root, a standard OCI image layout that skopeo, umoci and oras read "
        "as it is (\\fBskopeo inspect oci:\\fR\\fIROOT\\fR\\fB:\\fR\\fINAME\\fR).",
    ),
    ("ROOT/oci\\-layout", 'The layout marker, {"imageLayoutVersion": "1.0.0"}.'),
    (
        "ROOT/index.json",
        "An OCI image index with one entry per image name: the descriptor of the index or "
        "manifest pulled, annotated with \\fBio.containerd.image.name\\fR and "
        "\\fBorg.opencontainers.image.ref.name\\fR (the full name, "
        "docker.io/library/hello\\-world:linux).",
    ),
    (
        "ROOT/blobs/sha256/HEX",
        "Every index, manifest, config and layer, verified, read-only, named by its digest.",
    ),
    (
        "ROOT/ingest/",
        "Downloads in progress or interrupted (\\fIsha256\\-HEX.partial\\fR, resumed by the "
        "next pull) and lock files.",
    ),
    (
        "\\(ti/.config/ctrpy/certs.d/REGISTRY/hosts.toml",
        "Mirrors for REGISTRY in containerd's format (\\fBserver\\fR, "
        '\\fB[host."URL"]\\fR with \\fBcapabilities\\fR, \\fBskip_verify\\fR, \\fBca\\fR, '
        "\\fBoverride_path\\fR); when that directory does not exist, "
        "\\fI/etc/containerd/certs.d\\fR is read.",
    ),
    (
        "$DOCKER_CONFIG/config.json",
        "Credentials: \\fBauths\\fR, \\fBcredsStore\\fR and \\fBcredHelpers\\fR "
        "(\\fBdocker\\-credential\\-NAME get\\fR), used when \\fB\\-\\-user\\fR is not given.",
    ),
]

EXIT_STATUS = [
    (0, "Success (for \\fBdigest \\-\\-check\\fR: up to date)."),
    (
        errors.CtrpyError.exit_code,
        "Failure: network, registry or store (for \\fBdigest \\-\\-check\\fR: stale).",
    ),
    (errors.UsageError.exit_code, "Bad usage: an unknown option, a bad reference or platform."),
    (errors.NotFound.exit_code, "Not found: image, tag or platform."),
    (errors.AuthError.exit_code, "Authentication or authorization refused."),
    (errors.IntegrityError.exit_code, "Integrity: a digest or size did not match."),
    (INTERRUPTED, "Interrupted (Ctrl-C); partial downloads are kept and resumed."),
]

EXAMPLES = [
    ("Pull an image; a second run costs one HEAD request:", ["ctrpy image pull hello-world:linux"]),
    (
        "Pull two platforms of a multi-platform image into a store of your choice:",
        [
            "ctrpy --root ./store image pull --platform linux/amd64 --platform linux/arm64/v8 "
            "alpine:3.20"
        ],
    ),
    (
        "Pull through a pull-through cache instead of Docker Hub:",
        ["ctrpy image pull --mirror http://127.0.0.1:5000 nginx:1.27"],
    ),
    (
        "What the store holds, and one image in it:",
        [
            "ctrpy image ls",
            "ctrpy image inspect hello-world:linux",
        ],
    ),
    (
        "Pull only when the tag moved (HEAD requests are not counted pulls):",
        [
            "ctrpy image digest --check hello-world:linux || ctrpy image pull hello-world:linux",
        ],
    ),
    (
        "Read the store with skopeo:",
        [
            "skopeo inspect oci:$HOME/.local/share/ctrpy:docker.io/library/hello-world:linux",
        ],
    ),
]


def render_man(command: click.Command = cli) -> str:
    """man/ctrpy.1: the whole command tree in one page."""
    nodes = list(walk(command))
    root = nodes[0]
    summary = ((root.command.help or "").strip().splitlines() or ["-"])[0].rstrip(".")
    out = [
        '.\\" Generated by python3 -m ctrpy.cli.gendocs from the click app; do not edit.',
        f'.TH CTRPY 1 "" "ctrpy {__version__}" "User Commands"',
        '.\\" no hyphenation, no justification: names, digests and options stay whole',
        ".nh",
        ".ad l",
        ".SH NAME",
        f"ctrpy \\- {escape(summary[0].lower() + summary[1:])}",
        ".SH SYNOPSIS",
    ]
    leaves = [n for n in nodes if not isinstance(n.command, click.Group)]
    for i, node in enumerate(leaves):
        sub = node.path.removeprefix(PROG + " ")
        pieces = node.command.collect_usage_pieces(node.ctx)
        out.append(f"\\fB{PROG}\\fR {_metavars(['[GLOBAL OPTIONS]'])} " + _usage_line(sub, pieces))
        if i < len(leaves) - 1:
            out.append(".br")
    out.append(".SH DESCRIPTION")
    out.extend(text_block(root.command.help or ""))
    out.extend(
        [
            ".PP",
            "Data goes to stdout, progress and diagnostics to stderr.",
            "On a terminal, pull shows live progress; in a pipe it prints plain lines,",
            "one per finished object, without escape codes.",
            ".SH OPTIONS",
            "Global options, given before the command:",
        ]
    )
    for param in root.command.get_params(root.ctx):
        out.extend(_option_lines(param, root.ctx))
    out.append(".SH COMMANDS")
    for node in nodes[1:]:
        out.append(f'.SS "{escape(node.path)}"')
        out.append(_usage_line(node.path, node.command.collect_usage_pieces(node.ctx)))
        out.extend(text_block(node.command.help or ""))
        if isinstance(node.command, click.Group):
            out.extend([".PP", "Commands:"])
            for name in node.command.list_commands(node.ctx):
                child = node.command.get_command(node.ctx, name)
                if child is not None and not child.hidden:
                    out.extend(
                        [".TP", f"\\fB{escape(name)}\\fR", escape(child.get_short_help_str(200))]
                    )
        options = [p for p in node.command.get_params(node.ctx) if _option_lines(p, node.ctx)]
        if options:
            out.extend([".PP", "Options:"])
            for param in options:
                out.extend(_option_lines(param, node.ctx))
        if node.command.epilog:
            out.extend(text_block(node.command.epilog))
    out.append(".SH ENVIRONMENT")
    for name, what in ENVIRONMENT:
        out.extend([".TP", f"\\fB{name}\\fR", what])
    out.append(".SH FILES")
    out.append("ROOT is the store root: \\fB\\-\\-root\\fR, else \\fBCTRPY_ROOT\\fR, else:")
    for name, what in FILES:
        out.extend([".TP", f"\\fI{name}\\fR", what])
    out.append(".SH EXIT STATUS")
    out.append(
        "Errors are printed on stderr as \\fBerror:\\fR what failed and why, often followed "
        "by \\fBhint:\\fR what to do; no traceback unless \\fB\\-\\-debug\\fR."
    )
    for code, what in EXIT_STATUS:
        out.extend([".TP", f"\\fB{code}\\fR", what])
    out.append(".SH EXAMPLES")
    for what, commands in EXAMPLES:
        out.extend([".PP", what, ".RS 4", ".nf", *map(literal, commands), ".fi", ".RE"])
    out.extend(
        [
            ".SH SEE ALSO",
            ".BR ctr (8),",
            ".BR skopeo (1),",
            ".BR containerd\\-config.toml (5)",
        ]
    )
    return "\n".join(out) + "\n"


# --- the files ------------------------------------------------------------------------------


def render_all(command: click.Command = cli) -> dict[str, str]:
    """Relative path -> content of every generated file."""
    files = {f"completions/{PROG}.{shell}": render_completion(shell, command) for shell in SHELLS}
    files[f"man/{PROG}.1"] = render_man(command)
    return files


def stale(directory: Path, files: Mapping[str, str]) -> list[str]:
    """The paths under ``directory`` whose content differs from ``files`` (or are missing)."""
    out = []
    for rel, content in files.items():
        try:
            current = (directory / rel).read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != content:
            out.append(rel)
    return out


def checkout() -> Path:
    """The source checkout this module lives in (where completions/ and man/ are)."""
    return Path(__file__).resolve().parents[2]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and list the files that differ from what would be written.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=checkout,
    show_default="the checkout holding ctrpy/",
    help="Where completions/ and man/ are.",
)
def main(check: bool, directory: Path) -> None:
    """Write completions/ctrpy.{bash,zsh,fish} and man/ctrpy.1 from the click app.

    \b
    Examples:
      python3 -m ctrpy.cli.gendocs
      python3 -m ctrpy.cli.gendocs --check
    """
    files = render_all()
    differ = stale(directory, files)
    if check:
        for rel in differ:
            click.echo(f"out of date: {rel}", err=True)
        if differ:
            click.echo("hint: run 'python3 -m ctrpy.cli.gendocs' and commit the result", err=True)
            sys.exit(1)
        return
    for rel in differ:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[rel], encoding="utf-8")
        click.echo(f"wrote {rel}")


if __name__ == "__main__":
    main()
