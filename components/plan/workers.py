"""The modules a plan needs, loaded once by `load()`: the parent of forked workers calls it before
forking; otherwise the fork server does (its preload, plan/preload.py), and its workers fork from
the server. Importing this module does nothing else.
"""

from __future__ import annotations

import importlib

from components.stack import cluster, registries

# The provider packages the program's components use (their lazily loaded submodules included):
# what a worker imports before its first stack. A module missing here is only imported later.
PROVIDER_MODULES = (
    "pulumi_aws.ecr",
    "pulumi_aws.eks",
    "pulumi_aws.iam",
    "pulumi_github",
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.meta.v1",
    "pulumi_tls",
)
# ... and the program's own components (as objects: a rename cannot silently skip them).
PROGRAM_MODULES = (cluster.__name__, registries.__name__)


def load() -> None:
    """Load PROVIDER_MODULES and PROGRAM_MODULES. The providers register their submodules lazily
    (a placeholder in sys.modules until an attribute other than __name__, __path__... is read):
    reading one loads it."""
    for name in (*PROVIDER_MODULES, *PROGRAM_MODULES):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # pulumi_kubernetes.core, then .core.v1
            getattr(importlib.import_module(".".join(parts[:i])), "__all__", None)
