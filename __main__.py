"""flux-fleet: a Pulumi stack per cluster (named after k8s-clusters/<name>.yaml), and `registries`.

`fluxfleet plan` runs this same file under Pulumi's mock runtime.
"""

from pathlib import Path

import pulumi

from components import program
from components.cluster import FluxCluster
from components.registries import Registries
from components.registries_model import REGISTRIES_STACK

if pulumi.get_stack() == REGISTRIES_STACK:
    # The ECR repository policies of the whole fleet: one stack owns them all.
    registries = Registries(REGISTRIES_STACK, program.fleet_registries(Path(__file__).parent))
    program.export_all(registries.outputs)
else:
    # 1. This stack's definition (invalid or missing: one line per problem, no stack trace).
    definition = program.cluster_definition(Path(__file__).parent, pulumi.get_stack())

    # 2. The cluster: EKS connection, ECR access, namespace, deploy key and Secret,
    #    flux-operator, FluxInstance.
    cluster = FluxCluster(definition, registries=program.cluster_registries(Path(__file__).parent))

    # 3. What a person needs to check the bootstrap.
    program.export_all(cluster.outputs)
