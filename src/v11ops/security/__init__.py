"""Access to the controller's API: tokens and roles (tokens.py), where a client finds its token
(credentials.py), the route table and its middleware (access.py), the audit log (audit.py)."""
