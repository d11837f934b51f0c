package cnc

import "github.com/prometheus/client_golang/prometheus"

// metrics exposes the engine's counters at scrape time: the hot path never touches Prometheus.
type metrics struct{ e *Engine }

var (
	descRecords = prometheus.NewDesc("yocho_cnc_records_total",
		"Flow records seen by the C&C detector, by what it did with them.", []string{"result"}, nil)
	descEvicted = prometheus.NewDesc("yocho_cnc_evictions_total",
		"State dropped to stay within its bound, by kind.", []string{"kind"}, nil)
	descState = prometheus.NewDesc("yocho_cnc_state",
		"Entries of the C&C detector's state, by kind.", []string{"kind"}, nil)
	descAlerts = prometheus.NewDesc("yocho_cnc_alerts_total",
		"Endpoints that reached the alert score.", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRecords
	ch <- descEvicted
	ch <- descState
	ch <- descAlerts
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	e := m.e
	e.mu.Lock()
	s := e.stats
	st := e.sizes()
	e.mu.Unlock()
	c := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	c(descRecords, s.contacts, "contact")
	c(descRecords, s.replies, "reply")
	c(descRecords, s.continued, "continuation")
	c(descRecords, s.skipped, "skipped_not_subscriber_to_server")
	c(descRecords, s.notExternal, "skipped_not_external")
	c(descRecords, s.badTime, "dropped_bad_time")
	c(descEvicted, s.endpointsEvicted, "endpoint")
	c(descEvicted, s.detailsEvicted, "detail")
	c(descEvicted, s.pairsEvicted, "pair")
	c(descEvicted, s.iotReset, "iot_host")
	c(descEvicted, s.listsFull, "listed_client_refused")
	c(descAlerts, s.alerts)
	g := func(v int, l string) {
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, float64(v), l)
	}
	g(st.Endpoints, "endpoint")
	g(st.Detailed, "detail")
	g(st.Listed, "listed")
	g(st.Pairs, "pair")
	g(st.IoTHosts, "iot_host")
}
