// Package e2e holds yocho's end-to-end tests with real exporters and collectors on loopback:
// softflowd, nfreplay and pmacct export a generated capture to both yocho (run in-process, with the
// real decoders and the HTTP API) and a peer collector (nfcapd/nfdump, nfacctd, sfacctd), and the
// flow counts and byte totals must agree. It also holds the collector's loopback load test.
// Every test here skips when a tool is missing, and fails instead under CI=true.
package e2e
