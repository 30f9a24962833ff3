"""Pure builders: a validated definition in, the desired objects out (Flux, Git access, EKS, ECR
and IAM, alerts, monitoring, the GitOps tree, recovery). No Pulumi, no I/O but packaged data."""
