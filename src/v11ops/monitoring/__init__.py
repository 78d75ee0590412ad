"""Monitoring as code: alert rules (rules/), Grafana dashboards (dashboards/) and the local
Prometheus + Alertmanager + node-exporter stack that `v11ops monitor up` runs (stack/)."""
