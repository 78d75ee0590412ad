"""Helpers shared by the test suites: real processes, real databases, free ports."""
