"""Developer tools that measure bcbench from the outside: the speed comparison, the timer cross-check."""
