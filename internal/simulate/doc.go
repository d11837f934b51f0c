// Package simulate makes realistic carrier traffic and attacks, and sends them as real flow exports
// (NetFlow v5, NetFlow v9, IPFIX, sFlow v5) over UDP to any collector, writing down the ground
// truth of what it injected. It powers `yocho simulate`, `yocho demo` and the benchmarks.
//
// Data comes from a Scenario (a YAML file in scenarios/): the carrier's address plan, its exporters
// (routers) and their sampling and timeouts, the benign traffic, and the attacks, botnets and scans.
// A Generator turns it into flow records, one simulated step at a time, deterministically for a
// given seed; per-exporter encoders pack the records into datagrams; the Simulator sends them from
// one UDP socket per exporter, bound to the exporter's own (loopback) address, since a collector
// knows an exporter by its source address. The ground truth (Truth, one JSON line per injected
// attack, botnet or scan) goes to the caller, for internal/eval to score alerts against.
//
// # The simulated clock
//
// Every exported timestamp (NetFlow/IPFIX flow start and end, export headers, truth start and end)
// follows the simulated clock. It starts at the wall-clock time the run starts (or at
// Config.Start) and runs Config.Speed times faster than the wall clock: with --speed 60 a
// simulated hour is sent in one wall minute, and the flow timestamps run ahead of the wall clock
// by (speed-1) times the elapsed time. Volumes are never scaled by the speed: each simulated
// second carries what a real network carries in a second, so a detector that counts volume per
// second of flow timestamps (event time) sees the true rates and durations at any speed, and a
// detector that works on arrival time sees rates multiplied by the speed. At speed 1 (the demo,
// and the default) the two clocks agree, and every detector sees the real thing. Speed 0 sends as
// fast as the machine allows (load tests). sFlow carries no flow times: a collector stamps
// samples on arrival, so sFlow exports are only time-faithful at speed 1.
//
// # What an exporter does
//
// Each exporter samples 1 in N packets (records carry sampled packet and byte counts; the rate is
// announced in the NetFlow v5 header, in NetFlow v9/IPFIX options data, and in every sFlow sample),
// cuts long flows into a record per active timeout, exports a flow seen once after its inactive
// timeout, refreshes its templates, numbers its datagrams, and may lose or reorder some of them.
// Volumes are IP-layer bytes, except in sFlow where a sample counts its whole Ethernet frame
// (IP length + 18: header and FCS), as sFlow agents report it.
//
// # Ground truth
//
// Truth lines name the kind (ddos, cnc, scan), the vector, the targets (or the carpet-bombed
// prefix), the C&C servers and bots, the direction, start and end in the simulated clock, the
// true (unsampled) rate, and first_sent_at: the wall-clock time the first export datagram holding
// one of its records left the simulator, from which detection latency is measured.
package simulate
