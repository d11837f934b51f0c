package api

import (
	"net/http"
	"time"

	"yocho/internal/collect"
)

// ExporterSource is what the exporter endpoints read: the collector.
type ExporterSource interface {
	Exporters() []collect.Exporter
	Ready() bool
}

// ExporterJSON is one exporter in GET /api/v1/exporters. Volumes are scaled by the sampling rate.
type ExporterJSON struct {
	Address                string            `json:"address"` // "other" sums the exporters beyond the tracking limit
	Packets                uint64            `json:"packets"` // export datagrams received
	PacketsByVersion       map[string]uint64 `json:"packets_by_version"`
	Flows                  uint64            `json:"flows"`
	Bytes                  uint64            `json:"bytes"`
	FlowPackets            uint64            `json:"flow_packets"`
	Errors                 map[string]uint64 `json:"errors"` // datagrams rejected in whole or in part, by reason
	SequenceLost           uint64            `json:"sequence_lost"`
	Templates              int               `json:"templates"`
	SamplingRates          []uint32          `json:"sampling_rates"`           // rates applied to the flows
	AnnouncedSamplingRates []uint32          `json:"announced_sampling_rates"` // rates the exporter announced
	UnknownSamplingFlows   uint64            `json:"unknown_sampling_flows"`   // flows given the default rate
	PendingFlows           int               `json:"pending_flows"`            // waiting for their template
	PendingLost            uint64            `json:"pending_lost"`             // dropped: their template never came
	Versions               []string          `json:"versions"`
	LastSeen               string            `json:"last_seen"` // RFC 3339, UTC
}

// HealthJSON is the body of GET /api/v1/health.
type HealthJSON struct {
	Status string `json:"status"` // "ok", or "starting" while the listeners are not up
}

// MountExporters serves GET /api/v1/exporters and GET /api/v1/health from src.
func MountExporters(s *Server, src ExporterSource) {
	s.Mount("GET /api/v1/exporters", func(w http.ResponseWriter, _ *http.Request) {
		exps := src.Exporters()
		out := make([]ExporterJSON, 0, len(exps))
		for _, e := range exps {
			out = append(out, exporterJSON(e))
		}
		WriteJSON(w, http.StatusOK, out)
	})
	s.Mount("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		if !src.Ready() {
			WriteJSON(w, http.StatusServiceUnavailable, HealthJSON{Status: "starting"})
			return
		}
		WriteJSON(w, http.StatusOK, HealthJSON{Status: "ok"})
	})
}

func exporterJSON(e collect.Exporter) ExporterJSON {
	addr := "other"
	if !e.Overflow {
		addr = e.Address.String()
	}
	nonNil := func(s []uint32) []uint32 {
		if s == nil {
			return []uint32{}
		}
		return s
	}
	versions := e.Versions
	if versions == nil {
		versions = []string{}
	}
	return ExporterJSON{
		Address:                addr,
		Packets:                e.Packets,
		PacketsByVersion:       e.PacketsByProtocol,
		Flows:                  e.Flows,
		Bytes:                  e.Bytes,
		FlowPackets:            e.FlowPackets,
		Errors:                 e.Errors,
		SequenceLost:           e.SequenceLost,
		Templates:              e.Templates,
		SamplingRates:          nonNil(e.SamplingRates),
		AnnouncedSamplingRates: nonNil(e.AnnouncedSamplingRates),
		UnknownSamplingFlows:   e.UnknownSampling,
		PendingFlows:           e.Pending,
		PendingLost:            e.PendingLost,
		Versions:               versions,
		LastSeen:               e.LastSeen.UTC().Format(time.RFC3339),
	}
}
