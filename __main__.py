"""flux-fleet: one Pulumi stack per cluster, named after k8s-clusters/<name>.yaml.

`fluxfleet plan` runs this same file under Pulumi's mock runtime.
"""

from pathlib import Path

import pulumi

from components import program
from components.cluster import FluxCluster

# 1. This stack's definition (invalid or missing: one line per problem, no stack trace).
definition = program.cluster_definition(Path(__file__).parent, pulumi.get_stack())

# 2. The cluster: EKS connection, namespace, deploy key and Secret, flux-operator, FluxInstance.
cluster = FluxCluster(definition)

# 3. What a person needs to check the bootstrap.
program.export_all(cluster.outputs)
