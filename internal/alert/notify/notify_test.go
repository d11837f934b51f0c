package notify

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"yocho/internal/alert"
)

func event() alert.Event {
	return alert.Event{Type: alert.EventStarted, Alert: alert.Alert{
		ID: "a1", Kind: alert.KindDDoS, Direction: alert.Incoming, State: alert.Ongoing, ThreatLevel: 85,
		Victims: []netip.Addr{netip.MustParseAddr("198.51.100.7")}, Vector: alert.VectorNTPAmp, PeakBps: 2e9,
		Series: []alert.Point{{Bps: 1}},
	}}
}

func TestWebhookSignsAndRetries(t *testing.T) {
	var calls atomic.Int32
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusInternalServerError) // two failures, then success
			return
		}
		if !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(Sign("s3cret", body))) {
			t.Errorf("bad signature %q", r.Header.Get(SignatureHeader))
		}
		if r.Header.Get("X-Yocho-Event") != "started" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		got <- body
	}))
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "s3cret", MaxRetries: 3, Backoff: 10 * time.Millisecond}, NewMetrics(nil), nil)
	if err := w.Send(context.Background(), event()); err != nil {
		t.Fatal(err)
	}
	body := <-got
	var ev struct {
		Event string      `json:"event"`
		Alert alert.Alert `json:"alert"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "started" || ev.Alert.ID != "a1" || ev.Alert.Victims[0].String() != "198.51.100.7" || ev.Alert.Series != nil {
		t.Errorf("body %s", body)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3", calls.Load())
	}
	// The signature is HMAC-SHA256 of the exact body: checked by hand here.
	if !strings.HasPrefix(Sign("k", []byte("x")), "sha256=") || Sign("k", []byte("x")) == Sign("k2", []byte("x")) {
		t.Error("Sign")
	}
}

func TestWebhookGivesUp(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, MaxRetries: 2, Backoff: time.Millisecond}, nil, nil)
	if err := w.Send(context.Background(), event()); err == nil {
		t.Fatal("no error after every attempt failed")
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 1 + 2 retries", calls.Load())
	}
	// A 4xx is not retried.
	calls.Store(0)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer bad.Close()
	w = NewWebhook(WebhookConfig{URL: bad.URL, MaxRetries: 5, Backoff: time.Millisecond}, nil, nil)
	if err := w.Send(context.Background(), event()); err == nil || calls.Load() != 1 {
		t.Errorf("400: err %v after %d calls, want an error after 1", err, calls.Load())
	}
}

// rfc5424 matches the header and structured data of an RFC 5424 message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) (\S+) yocho - (\S+) \[yocho@32473( [a-z_]+="([^"\\\]]|\\.)*")+\] (.+)$`)

func checkSyslog(t *testing.T, msg string) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", msg)
	}
	if pri, _ := strconv.Atoi(m[1]); pri != 16*8+2 { // local0, critical (threat 85)
		t.Errorf("PRI %d, want %d", pri, 16*8+2)
	}
	if m[5] != "alert-started" || !strings.Contains(msg, `victims="198.51.100.7"`) || !strings.Contains(msg, `vector="ntp-amplification"`) {
		t.Errorf("message %q", msg)
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := NewSyslog(SyslogConfig{Address: pc.LocalAddr().String(), Hostname: "edge"}, nil, nil)
	defer s.Stop()
	if err := s.Send(event(), time.Now()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, string(buf[:n]))
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(c)
				for {
					lenText, err := r.ReadString(' ')
					if err != nil {
						return
					}
					n, _ := strconv.Atoi(strings.TrimSpace(lenText))
					b := make([]byte, n)
					if _, err := io.ReadFull(r, b); err != nil {
						return
					}
					msgs <- string(b)
				}
			}()
		}
	}()
	s := NewSyslog(SyslogConfig{Address: ln.Addr().String(), Network: "tcp", Hostname: "edge"}, nil, nil)
	defer s.Stop()
	for i := 0; i < 2; i++ {
		if err := s.Send(event(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case m := <-msgs:
			checkSyslog(t, m)
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
}

func TestSeverityAndEscaping(t *testing.T) {
	ev := event()
	ev.Type = alert.EventEnded
	if Severity(ev) != 6 {
		t.Errorf("ended severity %d", Severity(ev))
	}
	if got := sdEscape(`a"b]c\d`); got != `a\"b\]c\\d` {
		t.Errorf("sdEscape = %s", got)
	}
}
