"""The `v11ops` command line: one module per noun, registered in `main`."""
