"""spec.apps: application repositories, each pulled with a deploy key of its own."""

from __future__ import annotations

from typing import Annotated, Any, cast

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo

from components.definition.git_ref import OneRef
from components.definition.types import (
    Duration,
    GithubOwner,
    GithubRepository,
    Label,
    RelPath,
    Subdomain,
    field_error,
)
from components.names import FLUX_SECRET_NAME, SYNC_SOURCE_NAME

# Names an application repository cannot take: the FluxInstance's own sync objects
# (flux-system), the `apps` Kustomization and its apps.yaml, and the folder's kustomization.yaml.
RESERVED_APP_NAMES = frozenset({SYNC_SOURCE_NAME, "apps", "kustomization"})


def _not_reserved_app(name: str) -> str:
    if name in RESERVED_APP_NAMES:
        raise ValueError(
            f'"{name}" is used by the cluster folder itself, expected another name '
            f"(not {', '.join(sorted(RESERVED_APP_NAMES))})"
        )
    return name


def _not_fleet_secret(name: str) -> str:
    if name == FLUX_SECRET_NAME:
        raise ValueError(
            f'"{name}" is the fleet repository\'s Secret, expected another name '
            "(default: <name>-deploykey)"
        )
    return name


class AppRepository(OneRef):
    """An application repository Flux pulls with a deploy key of its own (spec.apps[])."""

    name: Annotated[Label, AfterValidator(_not_reserved_app)] = Field(
        description="the GitRepository and Kustomization name, unique within the cluster",
        json_schema_extra={"not": {"enum": cast("list[Any]", sorted(RESERVED_APP_NAMES))}},
    )
    owner: GithubOwner | None = Field(None, description="default: spec.git.owner")
    repository: GithubRepository
    path: RelPath = Field(description="the path inside that repository Flux applies")
    interval: Duration = "1m"
    secret_name: Annotated[Subdomain, AfterValidator(_not_fleet_secret)] | None = Field(
        None,
        description="the Secret in flux-system with the key; default: <name>-deploykey",
        json_schema_extra={"not": {"const": FLUX_SECRET_NAME}},
    )
    image_automation: bool = Field(
        False,
        description="an ImageUpdateAutomation pushes to this repository: its deploy key is "
        "read-write (a new key pair; needs image-automation-controller in "
        "spec.flux.componentsExtra)",
    )
    service_account_name: Label | None = Field(
        None,
        description="the ServiceAccount in flux-system its Kustomization runs as (one you "
        "create, such as the tenant's); default: kustomize-controller with spec.flux.multitenant, "
        "else none",
    )

    @property
    def pull_secret(self) -> str:
        """The Secret holding this repository's key: secretName, or <name>-deploykey."""
        return self.secret_name or f"{self.name}-deploykey"

    def owner_or(self, fleet_owner: str) -> str:
        """The repository's owner: its own, or the fleet repository's (spec.git.owner)."""
        return self.owner or fleet_owner


def _apps_consistent(
    apps: list[AppRepository] | None, info: ValidationInfo
) -> list[AppRepository] | None:
    """Unique names and Secrets, and never the fleet repository itself; each error names
    the entry's field (spec.apps[1].secretName), not the whole list."""
    if not apps:
        return apps
    git = info.data.get("git")
    fleet_owner = getattr(git, "owner", None)
    fleet_repo = getattr(git, "repository", None)
    errors: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    secrets: dict[str, int] = {}
    for i, app in enumerate(apps):
        if app.name in names:
            errors.append(
                field_error(
                    (i, "name"),
                    app.name,
                    f'"{app.name}" is already the name of spec.apps[{names[app.name]}], '
                    "expected each name once",
                )
            )
        names.setdefault(app.name, i)
        secret = app.pull_secret
        if secret in secrets:
            default = "" if app.secret_name else " (the default <name>-deploykey)"
            errors.append(
                field_error(
                    (i, "secretName"),
                    secret,
                    f'"{secret}"{default} is already the Secret of spec.apps[{secrets[secret]}], '
                    "expected one Secret per application repository",
                )
            )
        secrets.setdefault(secret, i)
        owner = app.owner_or(fleet_owner or "")
        if (
            fleet_owner
            and fleet_repo
            and owner.casefold() == str(fleet_owner).casefold()
            and app.repository.casefold() == str(fleet_repo).casefold()
        ):
            errors.append(
                field_error(
                    (i, "repository"),
                    app.repository,
                    f"{owner}/{app.repository} is the fleet repository (spec.git), expected "
                    "another repository: the fleet repository is synced already, "
                    "with the flux-system key",
                )
            )
    if errors:
        raise ValidationError.from_exception_data("AppRepository", errors)  # type: ignore[arg-type]
    return apps


# The most application repositories of one cluster: each is a key pair, a deploy key and a
# Secret; 100 plan in about 6 seconds (50,000 took minutes).
MAX_APPS = 100
Apps = Annotated[list[AppRepository], Field(max_length=MAX_APPS), AfterValidator(_apps_consistent)]
