package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func TestServeCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("listen:\n  netflow: [\"127.0.0.1:12055\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("listen:\n  netflow: [\"127.0.0.1:12055\"]\nexporters:\n  default_sampling_rate: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	geoMissing, geoBad := filepath.Join(dir, "geo-missing.yaml"), filepath.Join(dir, "geo-bad.yaml")
	if err := os.WriteFile(geoMissing, []byte(fmt.Sprintf("enrich:\n  geoip:\n    country: %q\n", filepath.Join(dir, "none.mmdb"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(geoBad, []byte(fmt.Sprintf("enrich:\n  geoip:\n    country: %q\n", good)), 0o644); err != nil { // a YAML file
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"valid", []string{"--check", "-c", good}, 0, ""},
		{"defaults", []string{"-check"}, 0, ""},
		{"invalid value", []string{"--check", "-c", bad}, 2, "line 4"},
		{"missing file", []string{"--check", "-c", filepath.Join(dir, "none.yaml")}, 2, "none.yaml"},
		{"unknown flag", []string{"--frobnicate"}, 2, "frobnicate"},
		{"missing country database", []string{"--check", "-c", geoMissing}, 2, "enrich.geoip.country: geoip country database " + filepath.Join(dir, "none.mmdb")},
		{"bad country database", []string{"--check", "-c", geoBad}, 2, "enrich.geoip.country: geoip country database " + good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"serve"}, tc.args...), &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.inStderr) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.inStderr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeRunsAndStops starts serve on free ports, sends it a NetFlow v5 datagram, reads the
// exporter back from the API, and stops it as a signal would.
func TestServeRunsAndStops(t *testing.T) {
	nf, sf, web := freePort(t, "udp"), freePort(t, "udp"), freePort(t, "tcp")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "yocho.yaml")
	cfg := fmt.Sprintf("listen:\n  netflow: [\"127.0.0.1:%d\"]\n  sflow: [\"127.0.0.1:%d\"]\n  http: \"127.0.0.1:%d\"\n  udp_readers: 1\n"+
		"exporters:\n  default_sampling_rate: 10\nstorage:\n  path: %q\n  flush_interval: 200ms\n"+
		"networks:\n  - {prefix: 10.0.0.0/16, name: campus}\n  - {prefix: 10.0.0.0/24, name: lab}\n"+
		"enrich:\n  geoip:\n    country: %q\n", nf, sf, web, filepath.Join(dir, "data"), writeCountryDB(t, dir))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- serve(ctx, []string{"-c", cfgPath}, &stdout, &stderr) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", web)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became healthy; its log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("127.0.0.1:%d", nf)) {
		t.Errorf("the log does not say where it listens for NetFlow:\n%s", stderr.String())
	}

	// One NetFlow v5 record: 1000 bytes, no sampling announced (the default of 10 applies).
	pkt := make([]byte, 24+48)
	pkt[1], pkt[3] = 5, 1                                          // version 5, count 1
	binary.BigEndian.PutUint32(pkt[8:], uint32(time.Now().Unix())) // exported now, flows too
	copy(pkt[24:], []byte{10, 0, 0, 1, 10, 0, 0, 2})               // src, dst
	pkt[24+19] = 1                                                 // 1 packet
	pkt[24+22], pkt[24+23] = 0x03, 0xe8                            // 1000 bytes
	pkt[24+38] = 17                                                // UDP
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", nf))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var exps []struct {
		Address string `json:"address"`
		Flows   uint64 `json:"flows"`
		Bytes   uint64 `json:"bytes"`
	}
	for range 50 {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/exporters")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&exps)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(exps) > 0 && exps[0].Flows > 0 {
			break
		}
	}
	if len(exps) != 1 || exps[0].Address != "127.0.0.1" || exps[0].Flows == 0 || exps[0].Bytes != exps[0].Flows*10000 {
		t.Errorf("exporters %+v: want 127.0.0.1 with 10000 scaled bytes per flow", exps)
	}

	// The flows reached the store enriched: hostgroups from the networks, countries from the
	// database.
	var found struct {
		Flows []struct {
			SrcHostgroup string `json:"src_hostgroup"`
			DstHostgroup string `json:"dst_hostgroup"`
			SrcCountry   string `json:"src_country"`
			DstCountry   string `json:"dst_country"`
		} `json:"flows"`
	}
	q := url.Values{"since": {"1h"}, "limit": {"1"}, "filter": {"dst_hostgroup = lab and src_country = JP"}}
	for range 100 {
		resp, err := http.Get(base + "/api/v1/flows?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&found)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(found.Flows) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(found.Flows) != 1 || found.Flows[0].SrcHostgroup != "lab" || found.Flows[0].DstHostgroup != "lab" ||
		found.Flows[0].SrcCountry != "JP" || found.Flows[0].DstCountry != "JP" {
		t.Errorf("stored flows %+v: want 10.0.0.1 -> 10.0.0.2 in hostgroup lab, country JP", found.Flows)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after its context ended; log:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// writeCountryDB writes a country database (MaxMind DB) placing 10.0.0.0/8 in Japan.
func writeCountryDB(t *testing.T, dir string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IPVersion: 6, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("10.0.0.0/8")
	if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("JP")}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}
