"""The Pulumi components and the program they make up: each registers what the builders return,
from an args object (data only) defined beside it, which the program builds from the definition
(stack/args.py translates, stack/program.py reads the stack config)."""
