package collect

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exposes the exporter registry and the sockets to Prometheus. It reads the
// per-reader counters at scrape time, so the hot path never touches a Prometheus metric.
type metricsCollector struct{ c *Collector }

var (
	descPackets = prometheus.NewDesc("yocho_collector_packets_total",
		"Export datagrams received, by exporter and protocol.", []string{"exporter", "protocol"}, nil)
	descFlows = prometheus.NewDesc("yocho_collector_flows_total",
		"Flow records handed to consumers, by exporter.", []string{"exporter"}, nil)
	descBytes = prometheus.NewDesc("yocho_collector_bytes_total",
		"Bytes of the flows handed to consumers, scaled by their sampling rate, by exporter.", []string{"exporter"}, nil)
	descFlowPackets = prometheus.NewDesc("yocho_collector_flow_packets_total",
		"Packets of the flows handed to consumers, scaled by their sampling rate, by exporter.", []string{"exporter"}, nil)
	descErrors = prometheus.NewDesc("yocho_collector_decode_errors_total",
		"Export datagrams rejected in whole or in part, by exporter and reason.", []string{"exporter", "reason"}, nil)
	descUnknownSampling = prometheus.NewDesc("yocho_flows_unknown_sampling_total",
		"Flows whose exporter announced no sampling rate and has no override: they got exporters.default_sampling_rate.", []string{"exporter"}, nil)
	descSequenceLost = prometheus.NewDesc("yocho_collector_sequence_lost_total",
		"Export loss estimated from sequence numbers (records, or datagrams for NetFlow v9 and sFlow), by exporter.", []string{"exporter"}, nil)
	descTemplates = prometheus.NewDesc("yocho_collector_templates",
		"NetFlow v9 / IPFIX templates known, by exporter.", []string{"exporter"}, nil)
	descLastSeen = prometheus.NewDesc("yocho_collector_exporter_last_seen_seconds",
		"Unix time of the exporter's last datagram.", []string{"exporter"}, nil)
	descExporters = prometheus.NewDesc("yocho_collector_exporters",
		"Exporters seen.", nil, nil)
	descDrops = prometheus.NewDesc("yocho_collector_socket_drops_total",
		"Datagrams the kernel dropped because a socket's receive buffer was full (/proc/net/udp), by listen address.", []string{"listen"}, nil)
	descBatches = prometheus.NewDesc("yocho_collector_batches_total",
		"Batches handed to consumers.", nil, nil)
	descReadErrors = prometheus.NewDesc("yocho_collector_read_errors_total",
		"Socket read errors.", nil, nil)
	descUp = prometheus.NewDesc("yocho_collector_up",
		"1 while every listener is up.", nil, nil)
)

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descFlows, descBytes, descFlowPackets, descErrors,
		descUnknownSampling, descSequenceLost, descTemplates, descLastSeen, descExporters, descDrops,
		descBatches, descReadErrors, descUp} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	exps := c.Exporters()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, e := range exps {
		name := "other"
		if !e.Overflow {
			name = e.Address.String()
		}
		for p, n := range e.PacketsByProtocol {
			counter(descPackets, n, name, p)
		}
		counter(descFlows, e.Flows, name)
		counter(descBytes, e.Bytes, name)
		counter(descFlowPackets, e.FlowPackets, name)
		for r, n := range e.Errors {
			counter(descErrors, n, name, r)
		}
		counter(descUnknownSampling, e.UnknownSampling, name)
		counter(descSequenceLost, e.SequenceLost, name)
		ch <- prometheus.MustNewConstMetric(descTemplates, prometheus.GaugeValue, float64(e.Templates), name)
		ch <- prometheus.MustNewConstMetric(descLastSeen, prometheus.GaugeValue, float64(e.LastSeen.UnixMilli())/1000, name)
	}
	ch <- prometheus.MustNewConstMetric(descExporters, prometheus.GaugeValue, float64(len(exps)))
	drops, _ := c.socketDrops()
	for listen, n := range drops {
		counter(descDrops, n, listen)
	}
	counter(descBatches, c.batches.Load())
	counter(descReadErrors, c.readErrors.Load())
	up := 0.0
	if c.Ready() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}
