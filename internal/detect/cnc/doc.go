// Package cnc finds botnet command-and-control servers in flows: external endpoints (address,
// port, protocol) that subscriber hosts keep contacting in the way bots do.
//
// Data comes in as flow.Batch through Consume (the collector online, the importer or a store
// replay offline). For each record whose one side is a subscriber and whose other side is an
// external unicast address, the engine updates that external endpoint's bounded state: distinct
// clients (exact while few, then a HyperLogLog), how alike the contacts are, per-minute and per-hour
// counts, unanswered contacts, IoT-looking clients. On unsampled data it also keeps the contact
// times and sizes of each (client, server) pair and scores their beaconing in the manner of RITA.
// Candidates and Clients compute the score (0–100, with its parts) on demand; every Tick of flow
// time the endpoints touched since the last tick are scored and those at or above the alert score
// go to the Alerter.
//
// Consume works column-wise in passes over a batch: it first keeps the subscriber ↔ external
// records, then loads the index words and endpoints they need (independent loads the processor
// overlaps), then updates state in record order. Endpoints are found through an open-addressed
// index of hash tags (index.go), not a Go map.
//
// Memory is bounded by Config: a fixed number of endpoints (the least valuable of a random sample
// is evicted when full), of detailed endpoints, of listed clients, of pairs
// and of IoT hosts.
package cnc
