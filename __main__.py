"""flux-fleet: a Pulumi stack per cluster (named after k8s-clusters/<name>.yaml), and `registries`.

`fluxfleet plan` runs this same file under Pulumi's mock runtime.
"""

from pathlib import Path

import pulumi

from components.names import REGISTRIES_STACK
from components.stack import program
from components.stack.cluster import FluxCluster
from components.stack.registries import Registries

PROJECT_DIR = Path(__file__).parent

STACK = pulumi.get_stack()
# The definitions this stack needs (`fluxfleet plan` hands over those it read already).
fleet = program.read_fleet(PROJECT_DIR, STACK)

if STACK == REGISTRIES_STACK:
    # The ECR repository policies of the whole fleet: one stack owns them all.
    registries = Registries(REGISTRIES_STACK, program.fleet_registries(fleet))
    program.export_all(registries.outputs)
else:
    # 1. This stack's definition (invalid or missing: one line per problem, no stack trace), with
    #    its stack config (the Slack credential).
    args = program.flux_cluster(fleet, STACK)

    # 2. The cluster: EKS connection, ECR access, namespace, deploy keys and Secrets,
    #    flux-operator, FluxInstance, alerts and dashboards.
    cluster = FluxCluster(args)

    # 3. What a person needs to check the bootstrap.
    program.export_all(cluster.outputs)
