package config

import (
	"fmt"
	"net/netip"
)

// Listen is where yocho receives exports and serves HTTP.
type Listen struct {
	NetFlow []ListenAddr `yaml:"netflow"` // NetFlow v5/v9 and IPFIX
	SFlow   []ListenAddr `yaml:"sflow"`
	HTTP    ListenAddr   `yaml:"http"` // UI, API, metrics; empty disables

	// UDPReaders is the number of sockets (SO_REUSEPORT) and reading goroutines per flow listen
	// address; 0 means one per core.
	UDPReaders int `yaml:"udp_readers"`
	// UDPReceiveBuffer is the receive buffer asked for each flow socket, in bytes; the kernel
	// caps it at net.core.rmem_max unless yocho runs as root.
	UDPReceiveBuffer int `yaml:"udp_receive_buffer"`
}

// DefaultListen listens on loopback: NetFlow/IPFIX on 2055 and 4739, sFlow on 6343, HTTP on 8080.
func DefaultListen() Listen {
	return Listen{
		NetFlow: []ListenAddr{"127.0.0.1:2055", "127.0.0.1:4739"},
		SFlow:   []ListenAddr{"127.0.0.1:6343"},
		HTTP:    "127.0.0.1:8080",

		UDPReceiveBuffer: 32 << 20,
	}
}

func (l *Listen) validate() error {
	if l.UDPReaders < 0 || l.UDPReaders > 1024 {
		return fmt.Errorf("listen.udp_readers: %d is not between 0 (one per core) and 1024", l.UDPReaders)
	}
	if l.UDPReceiveBuffer < 0 || l.UDPReceiveBuffer > 1<<30 {
		return fmt.Errorf("listen.udp_receive_buffer: %d bytes is not between 0 and 1 GiB", l.UDPReceiveBuffer)
	}
	seen := map[ListenAddr]string{}
	for _, group := range []struct {
		key   string
		addrs []ListenAddr
	}{{"listen.netflow", l.NetFlow}, {"listen.sflow", l.SFlow}} {
		for _, a := range group.addrs {
			if k, dup := seen[a]; dup {
				return fmt.Errorf("%s: %s is already used by %s", group.key, a, k)
			}
			seen[a] = group.key
		}
	}
	return nil
}

// Exporters says how to treat the routers that send flows.
type Exporters struct {
	// DefaultSamplingRate applies to flows whose exporter announces no rate and has no override.
	DefaultSamplingRate SamplingRate       `yaml:"default_sampling_rate"`
	Overrides           []ExporterOverride `yaml:"overrides"`
}

// ExporterOverride forces the sampling rate of one exporter's flows, whatever it announces.
type ExporterOverride struct {
	Exporter     Addr         `yaml:"exporter"`
	SamplingRate SamplingRate `yaml:"sampling_rate"`
}

// DefaultExporters counts flows of unknown rate as unsampled.
func DefaultExporters() Exporters { return Exporters{DefaultSamplingRate: 1} }

func (e *Exporters) validate() error {
	seen := map[netip.Addr]bool{}
	for i, o := range e.Overrides {
		if !o.Exporter.IsValid() {
			return fmt.Errorf("exporters.overrides[%d].exporter: missing", i)
		}
		if o.SamplingRate == 0 {
			return fmt.Errorf("exporters.overrides[%d].sampling_rate: missing", i)
		}
		if seen[o.Exporter.Addr] {
			return fmt.Errorf("exporters.overrides[%d]: exporter %s is listed twice", i, o.Exporter)
		}
		seen[o.Exporter.Addr] = true
	}
	return nil
}
