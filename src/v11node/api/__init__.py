"""The node's HTTP API (FastAPI on uvicorn)."""
