"""The repository is self-contained: nothing in it reads a folder beside the clone, the upstream
data the tests use is vendored with its provenance, and the kubectl decision is right."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kubectltool
import pytest

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "tests" / "upstream"
sys.path.insert(0, str(UPSTREAM))

import refresh  # noqa: E402

# A path into a folder beside the repository: `../shared`, or one built from a parent folder
# (`parents[2] / "shared"`, `Path("..", "shared")`).
OUTSIDE = re.compile(
    r"\.\./shared\b"
    r"|parents\[\d+\]\s*/\s*[\"']shared[\"']"
    r"|[\"']\.\.[\"']\s*,\s*[\"']shared[\"']"
)


def tracked_files() -> list[Path]:
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=60
    )
    if done.returncode == 0:
        names = [n for n in done.stdout.decode().split("\0") if n]
    else:  # not a git checkout: every file but the venv
        names = [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not {".venv", ".git"} & set(p.relative_to(ROOT).parts)
        ]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def references_outside(paths: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_nothing_in_the_repository_reads_a_folder_beside_it() -> None:
    files = [f for f in tracked_files() if f != Path(__file__).resolve()]  # its own examples
    assert len(files) > 50
    assert references_outside(files) == []


@pytest.mark.parametrize(
    "line",
    [
        'CRD_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas"',
        "cat ../shared/reference/github-ssh.md",
        'Path("..", "shared", "seed")',
    ],
)
def test_the_scan_catches_a_planted_reference(tmp_path: Path, line: str) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(f"ok\n{line}\n")
    assert references_outside([planted], tmp_path) == [f"planted.py:2: {line}"]


def test_a_registry_named_shared_is_not_a_reference() -> None:
    assert references_outside([ROOT / "tests" / "test_ecr.py"]) == []


# --- vendored upstream data --------------------------------------------------------------------


def test_every_vendored_crd_is_listed_with_its_source_and_checksum() -> None:
    _, entries = refresh.parse_sources((UPSTREAM / "SOURCES").read_text())
    listed = {e.file for e in entries}
    on_disk = {p.relative_to(UPSTREAM).as_posix() for p in (UPSTREAM / "crds").glob("*.yaml")}
    assert listed == on_disk
    for entry in entries:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.repository), entry
        assert re.fullmatch(r"v\d+\.\d+\.\d+", entry.tag), entry
        assert re.fullmatch(r"[0-9a-f]{40}", entry.commit), entry
        assert entry.path.endswith(Path(entry.file).name), entry
        data = (UPSTREAM / entry.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256, entry.file


def test_the_crds_are_flux_2_9_the_operator_0_58_and_the_podmonitor() -> None:
    _, entries = refresh.parse_sources((UPSTREAM / "SOURCES").read_text())
    tags = {e.repository: e.tag for e in entries}
    assert tags["controlplaneio-fluxcd/flux-operator"].startswith("v0.58.")
    for controller in ("source", "kustomize", "notification"):
        assert tags[f"fluxcd/{controller}-controller"].startswith("v1.9."), controller
    assert "prometheus-operator/prometheus-operator" in tags


def test_sources_round_trip() -> None:
    text = (UPSTREAM / "SOURCES").read_text()
    assert refresh.format_sources(*refresh.parse_sources(text)) == text
    with pytest.raises(ValueError, match="line 1: expected 6 fields"):
        refresh.parse_sources("crds/x.yaml fluxcd/x v1.0.0\n")


def test_refresh_reads_the_controller_tags_a_flux_release_ships() -> None:
    kustomization = (
        "resources:\n"
        "- https://github.com/fluxcd/source-controller/releases/download/v1.9.4/"
        "source-controller.crds.yaml\n"
        "- https://github.com/fluxcd/source-controller/releases/download/v1.9.4/"
        "source-controller.deployment.yaml\n"
    )
    assert refresh.controller_tag(kustomization, "fluxcd/source-controller") == "v1.9.4"
    assert refresh.controller_tag(kustomization, "fluxcd/helm-controller") is None


def test_refresh_writes_the_fingerprints_file_from_githubs_meta() -> None:
    vendored = (UPSTREAM / "github_ssh_key_fingerprints.json").read_text()
    meta = {"ssh_key_fingerprints": json.loads(vendored)["ssh_key_fingerprints"], "hooks": []}
    assert refresh.fingerprints_document(meta) == vendored
    with pytest.raises(ValueError):
        refresh.fingerprints_document({"hooks": []})


# --- kubectl ------------------------------------------------------------------------------------


def test_kubectl_missing_or_too_old_is_a_reason_a_current_one_is_not() -> None:
    current = "Client Version: v1.32.4\nKustomize Version: v5.5.0\n"
    old = 'Client Version: version.Info{Major:"1", Minor:"20"}\n'  # no kustomize line
    v4_0 = "Client Version: v1.21.0\nKustomize Version: v4.0.5\n"
    assert kubectltool.unusable_reason(lambda _: None, lambda _: current).startswith(
        "kubectl not found on PATH"
    )
    assert kubectltool.unusable_reason(lambda _: "/k", lambda _: current) is None
    assert "kustomize unknown" in str(kubectltool.unusable_reason(lambda _: "/k", lambda _: old))
    assert "kustomize v4.0" in str(kubectltool.unusable_reason(lambda _: "/k", lambda _: v4_0))


def test_kubectl_is_required_only_when_ci_says_so() -> None:
    assert kubectltool.required({"FLUXFLEET_REQUIRE_KUBECTL": "1"})
    assert not kubectltool.required({"FLUXFLEET_REQUIRE_KUBECTL": "0"})
    assert not kubectltool.required({})


# --- dependency locks --------------------------------------------------------------------------


def _lock_entries(name: str) -> list[tuple[str, list[str]]]:
    """Each requirement of a lock (its continuation lines joined) and its --hash options."""
    text = (ROOT / name).read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    entries = " ".join(lines).replace(" \\ ", " ").split()
    out: list[tuple[str, list[str]]] = []
    for word in entries:
        if word.startswith("--hash="):
            out[-1][1].append(word.removeprefix("--hash="))
        else:
            out.append((word, []))
    return out


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for requirement, _ in _lock_entries(name):
        package, _, version = requirement.partition("==")
        assert version, f"{name}: {requirement} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", package).lower()] = version
    return pins


@pytest.mark.parametrize("name", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_has_its_hashes(name: str) -> None:
    """.ci/run installs with --require-hashes: each pin needs the sha256 of its files."""
    entries = _lock_entries(name)
    assert entries
    for requirement, hashes in entries:
        assert hashes, f"{name}: {requirement} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement
    assert "--require-hashes" in (ROOT / ".ci" / "run").read_text()


def _requirements(entries: list[str]) -> dict[str, str]:
    out = {}
    for entry in entries:
        package, _, version = entry.partition("==")
        assert version, f"pyproject.toml: {entry} is not pinned with =="
        out[re.sub(r"[-_.]+", "-", package).lower()] = version
    return out


def test_the_locks_pin_pyproject_runtime_and_dev_apart() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _lock("requirements.lock"), _lock("requirements-dev.lock")
    assert set(runtime).isdisjoint(dev), set(runtime) & set(dev)
    for package, version in _requirements(project["dependencies"]).items():
        assert runtime.get(package) == version, package
    for package, version in _requirements(project["optional-dependencies"]["dev"]).items():
        assert dev.get(package) == version, package
    assert "rich" not in runtime  # nothing of the product imports it
    assert "rich" not in project["optional-dependencies"]["dev"]  # only import-linter's own
    assert "pytest" not in runtime and "mypy" not in runtime  # quick start 1 installs no dev tool


def test_no_source_file_is_ignored_by_git() -> None:
    """A .gitignore pattern matching a package folder (`build/` once hid components/build/)
    leaves new modules out of every commit: CI's clone would not have them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the tests run in a git checkout (CI clones the repository)")
    sources = [
        str(path.relative_to(ROOT))
        for folder in ("components", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(sources),
        capture_output=True,
        text=True,
    )
    assert done.stdout.split() == [], "ignored by .gitignore"
    planted = subprocess.run(
        ["git", "check-ignore", "--no-index", "build/x.py", "components/builders/flux.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert planted.stdout.split() == ["build/x.py"]  # the top-level build/ only
