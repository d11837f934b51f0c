package mitigate

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's and the speaker's Prometheus metrics.
type metrics struct {
	routes        *prometheus.GaugeVec   // by kind
	announcements *prometheus.CounterVec // by kind
	withdrawals   *prometheus.CounterVec // by kind
	refusals      *prometheus.CounterVec // by reason
	errors        *prometheus.CounterVec // by operation
	peerUp        *prometheus.GaugeVec   // by peer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "yocho", Subsystem: "mitigation", Name: name, Help: help}
	}
	m := &metrics{
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("routes",
			"Routes held now, by kind (rtbh, flowspec): announced, or only recorded in dry-run mode.")), []string{"kind"}),
		announcements: prometheus.NewCounterVec(prometheus.CounterOpts(opts("announcements_total",
			"Routes announced to the BGP peers, by kind.")), []string{"kind"}),
		withdrawals: prometheus.NewCounterVec(prometheus.CounterOpts(opts("withdrawals_total",
			"Routes withdrawn from the BGP peers, by kind.")), []string{"kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts(opts("refusals_total",
			"Mitigations refused, by reason (direction, threat_level, outside_networks, route_cap, no_rule...).")), []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts(opts("errors_total",
			"Failed operations, by operation (announce, withdraw, state_file, peer).")), []string{"op"}),
		peerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("peer_up",
			"1 when the BGP session with the peer is established, else 0.")), []string{"peer"}),
	}
	for _, k := range []string{KindRTBH, KindFlowSpec} {
		m.routes.WithLabelValues(k)
		m.announcements.WithLabelValues(k)
		m.withdrawals.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.routes, m.announcements, m.withdrawals, m.refusals, m.errors, m.peerUp)
	}
	return m
}

func (m *metrics) refused(r *refusal) { m.refusals.WithLabelValues(r.code).Inc() }

func (m *metrics) setRoutes(table map[string]*held) {
	n := map[string]int{}
	for _, h := range table {
		n[h.route.Kind]++
	}
	for _, k := range []string{KindRTBH, KindFlowSpec} {
		m.routes.WithLabelValues(k).Set(float64(n[k]))
	}
}
