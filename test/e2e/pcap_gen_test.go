package e2e

import (
	"os"
	"testing"
)

// TestWriteTrafficPcap writes the capture to $YOCHO_PCAP_OUT for a look with capinfos or tshark.
func TestWriteTrafficPcap(t *testing.T) {
	out := os.Getenv("YOCHO_PCAP_OUT")
	if out == "" {
		t.Skip("set YOCHO_PCAP_OUT to write the test capture")
	}
	s, err := writeTrafficPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
}
