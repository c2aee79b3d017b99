"""Rigs the project's own tests build on this machine (tests/support/)."""
