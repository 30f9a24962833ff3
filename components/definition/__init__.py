"""The definition files' model: what a cluster, the fleet defaults and the registries may say
(pydantic, strict). No I/O, no Pulumi."""
