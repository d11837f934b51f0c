package main

import (
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
	"yocho/internal/config"
	"yocho/internal/mitigate"
)

// newMitigation builds the mitigation engine (the embedded BGP speaker) and subscribes it to the
// alert manager; it does no I/O. Start it after the manager, so that the alerts are loaded when it
// rebuilds its announcements. With mode off it does nothing.
func newMitigation(cfg config.Config, alerts *alert.Manager, reg prometheus.Registerer, log *slog.Logger) *mitigate.Mitigator {
	var ours []netip.Prefix
	for _, n := range cfg.Networks {
		ours = append(ours, n.Prefix.Prefix)
	}
	m := mitigate.New(mitigate.ConfigFrom(cfg.Mitigation, cfg.Storage.Path), mitigate.Deps{
		Alerts: alerts, Networks: ours, Registerer: reg, Logger: log.With("component", "mitigation"),
	})
	alerts.Subscribe("mitigation", m.Handle)
	return m
}
