"""The docs as tests: runnable blocks run, links and anchors resolve."""
