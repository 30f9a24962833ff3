"""The Pulumi components and the program they make up: each registers what the builders return,
from an args object the program builds (stack/args.py, stack/program.py)."""
