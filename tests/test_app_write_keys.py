"""Image automation on an application repository: an entry with imageAutomation: true gets a
read-write deploy key (image-automation-controller pushes its ImageUpdateAutomation's commits
with the GitRepository's Secret); every other app key stays read-only."""

from __future__ import annotations

from pathlib import Path

from planutil import edit, one, run_cli

from components.plan.runner import plan_stack

STAGING = "staging-cluster-name"
STAGING_FILE = f"k8s-clusters/{STAGING}.yaml"
DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey"
APPS = """  apps:
    - name: team-a
      repository: team-a
      path: deploy/staging
      imageAutomation: true
    - name: team-b
      repository: team-b
      path: .
"""


def with_apps(project: Path, automation: bool) -> None:
    if automation:
        extra = "    componentsExtra: [image-automation-controller]\n"
        edit(project, STAGING_FILE, "  flux:\n", "  flux:\n" + extra)
    path = project / STAGING_FILE
    path.write_text(path.read_text() + APPS)


def test_an_app_that_image_automation_pushes_to_gets_a_read_write_key(project: Path) -> None:
    with_apps(project, automation=True)
    plan = plan_stack(project, STAGING)
    keys = {
        r.inputs["repository"]: r.inputs["readOnly"] for r in plan.resources if r.type == DEPLOY_KEY
    }
    # the fleet key stays read-only: the pushes go to team-a (deployKey.readWrite would say else)
    assert keys == {"gitops": True, "team-a": False, "team-b": True}
    secret = one(plan, "kubernetes:core/v1:Secret", f"{STAGING}-app-team-a")
    assert secret.inputs["metadata"]["name"] == "team-a-deploykey"


def test_image_automation_on_an_app_without_the_controller_is_one_line(project: Path) -> None:
    with_apps(project, automation=False)
    code, out, err = run_cli(project, "validate")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{STAGING_FILE}: spec.apps[0].imageAutomation: true while image-automation-controller is "
        "not in spec.flux.componentsExtra (nothing would push with the read-write key), expected "
        "image-automation-controller in spec.flux.componentsExtra, or false"
    ]
    assert run_cli(project, "plan", STAGING)[2] == err
