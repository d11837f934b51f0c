package config

import (
	"strings"
	"testing"
)

func TestListenUDPSettings(t *testing.T) {
	cfg, err := Parse([]byte("listen:\n  udp_readers: 4\n  udp_receive_buffer: 67108864\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.UDPReaders != 4 || cfg.Listen.UDPReceiveBuffer != 64<<20 {
		t.Errorf("listen = %+v", cfg.Listen)
	}
	if d := Default().Listen; d.UDPReaders != 0 || d.UDPReceiveBuffer != 32<<20 {
		t.Errorf("defaults: readers %d (want 0: one per core), receive buffer %d (want 32 MiB)", d.UDPReaders, d.UDPReceiveBuffer)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"listen:\n  udp_readers: -1\n", "listen.udp_readers"},
		{"listen:\n  udp_receive_buffer: -5\n", "listen.udp_receive_buffer"},
		{"listen:\n  udp_readers: many\n", "line 2"},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error naming %q", tc.yaml, err, tc.want)
		}
	}
}
