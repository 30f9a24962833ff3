"""What made the offline tools fast at 10,000 clusters (issue 26) keeps their meaning: the cached
folder real paths, the direct snapshot extraction, the paused cycle collector."""

from __future__ import annotations

import gc
import io
import os
import tarfile
from pathlib import Path

import pytest

from components.loading import files
from components.loading.files import folder_cache, is_inside
from components.tools import cli
from components.tools.snapshots import AffectedError, _extract


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "k8s-clusters").mkdir(parents=True)
    outside.mkdir()
    (project / "k8s-clusters" / "a.yaml").write_text("x: 1\n")
    (outside / "b.yaml").write_text("x: 2\n")
    (project / "k8s-clusters" / "link.yaml").symlink_to(outside / "b.yaml")
    (project / "linked").symlink_to(outside)
    return project, outside


def test_is_inside_answers_the_same_with_the_folder_cache(tmp_path: Path) -> None:
    project, _ = _layout(tmp_path)
    paths = [
        project / "k8s-clusters" / "a.yaml",  # inside
        project / "k8s-clusters" / "link.yaml",  # a symlink to outside
        project / "linked" / "b.yaml",  # in a folder that is a symlink to outside
        project / "k8s-clusters" / "missing.yaml",  # not there: its folder decides
        project / "k8s-clusters" / ".." / ".." / "outside" / "b.yaml",
    ]
    plain = [is_inside(path, project) for path in paths]
    assert plain == [True, False, False, True, False]
    with folder_cache():
        assert [is_inside(path, project) for path in paths] == plain
        assert [is_inside(path, project) for path in paths] == plain  # from the cache


def test_the_folder_cache_lasts_one_block(tmp_path: Path) -> None:
    project, outside = _layout(tmp_path)
    folder = project / "k8s-clusters"
    with folder_cache():
        assert is_inside(folder / "a.yaml", project)
    assert files._REAL_FOLDERS is None  # nothing kept after the command
    # the folder swapped for a symlink to outside: the next command sees it
    (outside / "k8s").mkdir()
    (outside / "k8s" / "a.yaml").write_text("x: 1\n")
    (folder / "a.yaml").unlink()
    (folder / "link.yaml").unlink()
    folder.rmdir()
    folder.symlink_to(outside / "k8s")
    with folder_cache():
        assert not is_inside(folder / "a.yaml", project)


def test_a_snapshot_keeps_files_and_folders_and_leaves_symlinks_out(tmp_path: Path) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("a.yaml", b"x: 1\n"), ("sub/b.yaml", b"y: 2\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        empty = tarfile.TarInfo("empty")
        empty.type = tarfile.DIRTYPE
        tar.addfile(empty)
        link = tarfile.TarInfo("link.yaml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    _extract(archive.getvalue(), tmp_path)
    assert (tmp_path / "a.yaml").read_bytes() == b"x: 1\n"
    assert (tmp_path / "sub" / "b.yaml").read_bytes() == b"y: 2\n"
    assert (tmp_path / "empty").is_dir()
    assert not os.path.lexists(tmp_path / "link.yaml")


@pytest.mark.parametrize("name", ["../escape.yaml", "/abs.yaml", "sub/../../x.yaml"])
def test_a_snapshot_refuses_a_path_out_of_its_folder(tmp_path: Path, name: str) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(AffectedError, match="unexpected path"):
        _extract(archive.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "escape.yaml").exists()
    assert not (tmp_path / "x.yaml").exists()


def test_the_cycle_collector_is_paused_for_validate_only_and_back_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, bool] = {}

    def validate(_: object) -> int:
        seen["validate"] = gc.isenabled()
        return 0

    def schema(_: object) -> int:
        seen["schema"] = gc.isenabled()
        return 0

    monkeypatch.setattr(cli, "UNCOLLECTED", frozenset({validate}))
    assert gc.isenabled()
    with cli._collector_paused(validate):
        validate(None)
    with cli._collector_paused(schema):
        schema(None)
    assert seen == {"validate": False, "schema": True}
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cli._collector_paused(validate):
        raise RuntimeError("a command that fails")
    assert gc.isenabled()


def test_the_offline_tools_are_the_uncollected_ones() -> None:
    from components.tools import commands

    assert commands.cmd_validate in cli.UNCOLLECTED
    assert commands.cmd_rollout in cli.UNCOLLECTED
    assert commands.cmd_plan not in cli.UNCOLLECTED
