"""The `fluxfleet` command and what only it does: check the GitOps tree against the definitions,
scaffold clusters and applications, pick the stacks a change touches."""
