package mitigate

// Tests against real BGP speakers that no one on this team wrote: Debian's gobgpd and FRR's bgpd,
// each on its own loopback address and a non-default port. yocho's speaker connects out from
// 127.0.0.1; the peers are passive. Next hops are TEST-NET (192.0.2.1): FRR refuses loopback next
// hops and gobgpd takes them for withdrawals.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
	"yocho/internal/testenv"
)

const (
	gobgpdAddr    = "127.0.0.2"
	gobgpdPort    = 10179
	gobgpdAPIPort = 50151
	frrAddr       = "127.0.0.3"
	frrPort       = 10180
	localAS       = 65001
)

// needTool skips the test when a tool is missing, and fails it when CI=true.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			testenv.Missing(t, "%s is not installed (apt-get install gobgpd frr); skipping", n)
		}
	}
}

// daemon runs a peer until the test ends.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func startDaemon(t *testing.T, name, logPath string, args ...string) *daemon {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() { d.stop(); f.Close() })
	return d
}

func (d *daemon) stop() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

func (d *daemon) dumpLog(t *testing.T) {
	b, _ := os.ReadFile(d.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("%s log (tail):\n%s", d.name, b)
}

func startGobgpd(t *testing.T, dir string) *daemon {
	t.Helper()
	var fams strings.Builder
	for _, f := range []string{"ipv4-unicast", "ipv6-unicast", "ipv4-flowspec", "ipv6-flowspec"} {
		fmt.Fprintf(&fams, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = %q\n", f)
	}
	conf := fmt.Sprintf(`[global.config]
  as = 65002
  router-id = %[1]q
  port = %[2]d
  local-address-list = [%[1]q]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = %[3]d
  [neighbors.transport.config]
    passive-mode = true
    local-address = %[1]q
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 255
%[4]s`, gobgpdAddr, gobgpdPort, localAS, fams.String())
	path := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, "gobgpd", filepath.Join(dir, "gobgpd.log"), "gobgpd", "-f", path,
		"--api-hosts", fmt.Sprintf("127.0.0.1:%d", gobgpdAPIPort), "-l", "info")
}

func gobgpRIB(family string) string {
	out, err := exec.Command("gobgp", "-u", "127.0.0.1", "-p", fmt.Sprint(gobgpdAPIPort), "global", "rib", "-a", family).CombinedOutput()
	if err != nil {
		return "error: " + err.Error() + ": " + string(out)
	}
	return string(out)
}

func startFRR(t *testing.T, dir string) *daemon {
	t.Helper()
	conf := fmt.Sprintf(`hostname yocho-test
log file %[4]s/bgpd-detail.log
router bgp 65003
 bgp router-id %[1]s
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 127.0.0.1 remote-as %[3]d
 neighbor 127.0.0.1 passive
 neighbor 127.0.0.1 ebgp-multihop 255
 neighbor 127.0.0.1 update-source %[1]s
 address-family ipv4 unicast
  neighbor 127.0.0.1 activate
 exit-address-family
 address-family ipv4 flowspec
  neighbor 127.0.0.1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 127.0.0.1 activate
 exit-address-family
 address-family ipv6 flowspec
  neighbor 127.0.0.1 activate
 exit-address-family
exit
`, frrAddr, frrPort, localAS, dir)
	path := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, "frr-bgpd", filepath.Join(dir, "bgpd.log"), "/usr/lib/frr/bgpd", "-f", path,
		"-i", filepath.Join(dir, "bgpd.pid"), "-Z", "-S", "-l", frrAddr, "-p", fmt.Sprint(frrPort),
		"--vty_socket", dir, "-P", "0")
}

func vtysh(dir string, cmds ...string) string {
	args := []string{"--vty_socket", dir, "-d", "bgpd"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("vtysh", args...).CombinedOutput()
	if err != nil {
		return "error: " + err.Error() + ": " + string(out)
	}
	return string(out)
}

// eventually polls cond until it holds or the timeout passes, then fails with what it saw.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last seen:\n%s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// yocho is the alert manager and the mitigation engine, as cmd/yocho wires them.
type yocho struct {
	alerts *alert.Manager
	mit    *Mitigator
}

func startYocho(t *testing.T, dir string, cfg Config) *yocho {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	reg := prometheus.NewRegistry()
	ac := alert.DefaultConfig()
	ac.Dir = filepath.Join(dir, "alerts")
	y := &yocho{alerts: alert.New(ac, reg, log)}
	y.mit = New(cfg, Deps{Alerts: y.alerts, Networks: ours, Registerer: reg, Logger: log})
	y.alerts.Subscribe("mitigation", y.mit.Handle)
	ctx := context.Background()
	if err := y.alerts.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := y.mit.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return y
}

func (y *yocho) stop() {
	y.mit.Stop()
	y.alerts.Stop()
}

func report(key, victim, vector string, proto uint8, sport uint16) alert.Report {
	return alert.Report{Kind: alert.KindDDoS, Key: key, Direction: alert.Incoming,
		Victims: []netip.Addr{netip.MustParseAddr(victim)}, Vector: vector, Protocol: proto, SourcePort: sport,
		CurrentBps: 4e9, CurrentPps: 1e6, AttackStartedAt: time.Now().UTC()}
}

func TestRealPeersRTBHAndFlowSpec(t *testing.T) {
	needTool(t, "gobgpd", "gobgp", "vtysh", "/usr/lib/frr/bgpd")
	dir := t.TempDir()
	frrDir := filepath.Join(dir, "frr")
	if err := os.MkdirAll(frrDir, 0o755); err != nil {
		t.Fatal(err)
	}
	gobgpd := startGobgpd(t, dir)
	frr := startFRR(t, frrDir)
	t.Cleanup(func() {
		if t.Failed() {
			gobgpd.dumpLog(t)
			frr.dumpLog(t)
		}
	})

	cfg := Config{Mode: ModeAuto, LocalASN: localAS, RouterID: netip.MustParseAddr("192.0.2.1"),
		Peers: []Peer{
			{Address: netip.MustParseAddr(gobgpdAddr), ASN: 65002, Port: gobgpdPort},
			{Address: netip.MustParseAddr(frrAddr), ASN: 65003, Port: frrPort},
		},
		Method: MethodBoth, HoldTime: 3 * time.Second, MaxRoutes: 100, MatchSourcePort: true,
		StateFile: filepath.Join(dir, "mitigation", "active.json"), ConnectRetry: 2 * time.Second,
		Tick: 250 * time.Millisecond, Reconcile: time.Second}
	y := startYocho(t, dir, cfg)
	defer func() { y.stop() }()

	y.alerts.Raise(report("ddos/incoming/198.51.100.7", "198.51.100.7", alert.VectorDNSAmp, 17, 53))
	y.alerts.Raise(report("ddos/incoming/2001:db8:1::9", "2001:db8:1::9", alert.VectorICMPFlood, 1, 0))

	// gobgpd: the RTBH route with the community and NO_EXPORT, the FlowSpec rule with discard.
	// gobgp names 65535:666 by its RFC 7999 name, blackhole.
	gobgpHas := func() (bool, string) {
		v4, fs4 := gobgpRIB("ipv4"), gobgpRIB("ipv4-flowspec")
		v6, fs6 := gobgpRIB("ipv6"), gobgpRIB("ipv6-flowspec")
		all := v4 + fs4 + v6 + fs6
		return containsAll(v4, "198.51.100.7/32", "192.0.2.1", "65001", "{Communities: blackhole, no-export}") &&
			containsAll(fs4, "[destination: 198.51.100.7/32][protocol: ==udp][source-port: ==53]", "discard(as: 65001)") &&
			containsAll(v6, "2001:db8:1::9/128", "100::1", "{Communities: blackhole, no-export}") &&
			containsAll(fs6, "[destination: 2001:db8:1::9/128/0][protocol: ==58]", "discard(as: 65001)"), all
	}
	eventually(t, "the routes in gobgpd's RIB", 40*time.Second, gobgpHas)

	// FRR: the same, as bgpd shows them (65535:666 as "blackhole"; discard as a rate of 0).
	frrHas := func() (bool, string) {
		rt := vtysh(frrDir, "show bgp ipv4 unicast 198.51.100.7/32")
		fs := vtysh(frrDir, "show bgp ipv4 flowspec detail")
		return containsAll(rt, "65001", "192.0.2.1 from 127.0.0.1", "Community: blackhole no-export") &&
			containsAll(fs, "Destination Address 198.51.100.7/32", "IP Protocol = 17", "Source Port = 53", "FS:rate 0.000000"), rt + fs
	}
	eventually(t, "the routes in FRR's RIB", 40*time.Second, frrHas)
	t.Logf("FRR:\n%s", vtysh(frrDir, "show bgp ipv4 unicast 198.51.100.7/32", "show bgp ipv4 flowspec detail"))

	// A session reset: gobgpd restarts with an empty RIB; yocho sends its routes again when the
	// session comes back up.
	gobgpd.stop()
	gobgpd = startGobgpd(t, dir)
	eventually(t, "the routes in gobgpd's RIB after its restart", 40*time.Second, gobgpHas)

	// yocho restarts mid-attack: the peers drop the routes with the session, and get them again.
	y.stop()
	eventually(t, "the routes gone from gobgpd while yocho is stopped", 20*time.Second, func() (bool, string) {
		s := gobgpRIB("ipv4")
		return !strings.Contains(s, "198.51.100.7/32"), s
	})
	y = startYocho(t, dir, cfg)
	eventually(t, "the routes in gobgpd's RIB after yocho's restart", 40*time.Second, gobgpHas)
	eventually(t, "the routes in FRR's RIB after yocho's restart", 40*time.Second, frrHas)

	// The attacks end: the routes stay for the hold time, then go.
	ended := time.Now()
	y.alerts.End("ddos/incoming/198.51.100.7", ended)
	y.alerts.End("ddos/incoming/2001:db8:1::9", ended)
	time.Sleep(time.Second)
	if ok, seen := gobgpHas(); !ok {
		t.Fatalf("routes withdrawn before the hold time:\n%s", seen)
	}
	eventually(t, "the routes gone from gobgpd after the hold time", 20*time.Second, func() (bool, string) {
		s := gobgpRIB("ipv4") + gobgpRIB("ipv4-flowspec") + gobgpRIB("ipv6") + gobgpRIB("ipv6-flowspec")
		return !strings.Contains(s, "198.51.100.7/32") && !strings.Contains(s, "2001:db8:1::9"), s
	})
	if held := time.Since(ended); held < 3*time.Second {
		t.Errorf("routes withdrawn %s after the end, before the 3s hold time", held)
	}
	eventually(t, "the routes gone from FRR after the hold time", 20*time.Second, func() (bool, string) {
		s := vtysh(frrDir, "show bgp ipv4 unicast", "show bgp ipv4 flowspec detail")
		return !strings.Contains(s, "198.51.100.7"), s
	})
	a := y.alerts.List(alert.Filter{})
	for _, x := range a {
		if !strings.Contains(string(x.Mitigation), `"state":"withdrawn"`) {
			t.Errorf("alert %s: mitigation %s, want withdrawn", x.ID, x.Mitigation)
		}
	}
}
