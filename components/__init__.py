"""flux-fleet: Flux on a fleet of Amazon EKS clusters, one definition file per cluster.

Layers, each importing only those below it (checked by `lint-imports`, docs/design/layering.md):

- names, problems, yamlio, forkmap: shared names, the one-line Problem, YAML, forked workers
- definition/: the model of the definition files (pydantic), no I/O
- builders/: pure builders of the desired objects (Flux, Git access, EKS, ECR/IAM, alerts, ...)
- loading/: files read into a validated fleet, one Problem line per mistake
- stack/: the Pulumi components and the program (Pulumi from here up)
- plan/: the offline plan under Pulumi's mock runtime, and its renderings
- tools/: the fluxfleet command: validate, plan, scaffold, affected, completion
"""
