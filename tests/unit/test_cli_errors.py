"""How an interrupted command ends: exit 130, and the resume hint only after downloads began."""

from __future__ import annotations

import pytest

from ctrpy.cli import errors


def _interrupted(downloading: bool) -> None:
    errors.state.downloading = downloading
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("downloading", "expected"),
    [
        pytest.param(False, ["error: interrupted"], id="ls-or-inspect"),
        pytest.param(
            True,
            [
                "error: interrupted",
                "hint: partial downloads are kept; the next pull resumes them",
            ],
            id="pull",
        ),
    ],
)
def test_ctrl_c_exits_130_and_mentions_partials_only_for_downloads(
    capsys: pytest.CaptureFixture[str], downloading: bool, expected: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        errors.run(lambda: _interrupted(downloading))
    assert exited.value.code == errors.INTERRUPTED == 130
    captured = capsys.readouterr()
    assert (captured.out, captured.err.splitlines()) == ("", expected)
