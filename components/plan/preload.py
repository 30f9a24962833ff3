"""The fork server's preload (plan/parallel.py): multiprocessing only imports the modules it is
given, so this one module loads the plan's modules when imported; nothing else imports it."""

from components.plan.workers import load

load()
