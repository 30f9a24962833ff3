"""flux-fleet: Flux on a fleet of Amazon EKS clusters, one definition file per cluster.

Pure builders (model, definitions, manifests, policies, dashboards) import no Pulumi;
the Pulumi components (eks, deploy_key, flux, cluster) register what the builders produce.
"""
