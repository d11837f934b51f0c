package store

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	queued            prometheus.Gauge
	dropped           *prometheus.CounterVec
	stored            prometheus.Counter
	flushes           prometheus.Counter
	flushSeconds      prometheus.Histogram
	compactions       *prometheus.CounterVec
	compactSeconds    prometheus.Histogram
	rollupSeconds     prometheus.Histogram
	partitionsDropped *prometheus.CounterVec
	errors            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "yocho_store_queued_flows",
			Help: "Flows consumed and waiting for the store's writer."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_store_dropped_flows_total",
			Help: "Flows the store could not keep, by reason (queue_full: the writer is behind; write_error)."}, []string{"reason"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "yocho_store_flows_total",
			Help: "Flows written to disk."}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "yocho_store_flushes_total",
			Help: "Flushes of staged flows to disk."}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "yocho_store_flush_seconds",
			Help: "Time to write one flush to disk.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_store_compactions_total",
			Help: "Partitions merged, by tier."}, []string{"tier"}),
		compactSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "yocho_store_compaction_seconds",
			Help: "Time to merge one partition.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		rollupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "yocho_store_rollup_seconds",
			Help: "Time to sum raw chunks into one roll-up chunk.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		partitionsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_store_partitions_dropped_total",
			Help: "Partitions deleted by retention, by tier."}, []string{"tier"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_store_errors_total",
			Help: "Store errors, by operation."}, []string{"op"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queued, m.dropped, m.stored, m.flushes, m.flushSeconds,
		m.compactions, m.compactSeconds, m.rollupSeconds, m.partitionsDropped, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
