"""Reading the project's files into a validated fleet: definitions with their defaults merged,
checks across files, stack settings. One `Problem` line per mistake; no Pulumi."""
