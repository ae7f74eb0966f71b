// Package monitoring holds topspeed's Grafana dashboard
// (grafana-dashboard.json) and Prometheus alerting rules
// (topspeed-alerts.yaml). It has no code: its tests parse every PromQL
// expression of both files and check that each metric they name is
// exported by topspeed, taking the names from a registry populated by the
// real code.
package monitoring
