"""Imported by the fork server of `plan_stacks` (multiprocessing's forkserver preload).

Loads every module a plan needs, once: each worker forked from the server starts with them.
Importing this module is its only purpose.
"""

from .plan import load_worker_modules

load_worker_modules()
