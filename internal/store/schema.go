package store

import (
	"strings"

	"yocho/internal/query"
)

// rawColumn is one column of the raw tier, in table order.
type rawColumn struct {
	name string
	typ  string // DuckDB type
}

// rawColumns is the raw tier's schema as stored, in file order (see stage). Four fields are
// stored in a form that compresses better than the field itself (docs/store.md, "On disk"):
//   - the start time as whole seconds and milliseconds: in merged files, sorted by exporter,
//     destination and source, times are in no order, and two small dictionaries (3600 seconds
//     an hour, 1000 milliseconds) cost less than 8-byte values through ZSTD;
//   - the two ports as the lower and the higher of the pair and which of them is the source's
//     (one side of most flows is a service port, the other an ephemeral one: the lower port
//     column is a short dictionary, the higher one the ephemeral ports, instead of two columns
//     that each mix both); the higher port as its two bytes, each a small dictionary;
//   - bytes as whole bytes per packet and the remainder, given packets (the average packet
//     size has fewer distinct values than the byte count);
//   - the receive delay in whole seconds, rounded: the only field kept at a coarser
//     resolution than it arrives with (to ±500 ms; see receiveDelaySeconds).
//
// The reader sees the fields themselves through rawView.
var rawColumns = []rawColumn{
	{"time_s", "BIGINT"},           // StartMs in whole seconds (floor)
	{"time_frac", "USMALLINT"},     // StartMs - 1000 time_s
	{"duration_ms", "BIGINT"},      // EndMs - StartMs
	{"received_delay_s", "BIGINT"}, // ReceivedMs - EndMs, in seconds (rounded)
	{"exporter_hi", "UBIGINT"}, {"exporter_lo", "UBIGINT"},
	{"obs_domain", "UINTEGER"},
	{"sampler_id", "UINTEGER"},
	{"sampling_rate", "UINTEGER"},
	{"in_if", "UINTEGER"},
	{"out_if", "UINTEGER"},
	{"src_addr_hi", "UBIGINT"}, {"src_addr_lo", "UBIGINT"},
	{"dst_addr_hi", "UBIGINT"}, {"dst_addr_lo", "UBIGINT"},
	{"next_hop_hi", "UBIGINT"}, {"next_hop_lo", "UBIGINT"},
	{"port_lo", "USMALLINT"},    // min(src_port, dst_port)
	{"port_hi_msb", "UTINYINT"}, // max(src_port, dst_port) >> 8
	{"port_hi_lsb", "UTINYINT"}, // max(src_port, dst_port) & 255
	{"proto", "UTINYINT"},
	{"tcp_flags", "UTINYINT"},
	{"tos", "UTINYINT"},
	{"icmp_type", "UTINYINT"},
	{"icmp_code", "UTINYINT"},
	{"bytes_per_packet", "UBIGINT"}, // bytes / packets (0 when packets is 0)
	{"packets", "UBIGINT"},          // scaled by sampling_rate
	{"bytes_rem", "UBIGINT"},        // bytes % packets (bytes when packets is 0)
	{"src_as", "UINTEGER"},
	{"dst_as", "UINTEGER"},
	{"src_mask", "UTINYINT"},
	{"dst_mask", "UTINYINT"},
	{"vlan", "USMALLINT"},
	{"direction", "UTINYINT"},
	{"forwarding_status", "UTINYINT"},
	{"mpls_label", "UINTEGER"},
	{"port_swap", "UTINYINT"}, // 1 when src_port is port_hi (and differs from dst_port)
	// Enrichment (internal/enrich); files written before these columns read them as "".
	{"src_hostgroup", "VARCHAR"},
	{"dst_hostgroup", "VARCHAR"},
	{"src_cc", "USMALLINT"}, // src_country's two letters (countryCode), 0 for none
	{"dst_cc", "USMALLINT"},
}

// flowFields are the raw tier's fields as queries see them (rawView), in FlowRow order: time,
// duration and receive delay in milliseconds, then every other field of a flow.
var flowFields = []rawColumn{
	{"time_ms", "BIGINT"},
	{"duration_ms", "BIGINT"},
	{"received_delay_ms", "BIGINT"},
	{"exporter_hi", "UBIGINT"}, {"exporter_lo", "UBIGINT"},
	{"obs_domain", "UINTEGER"},
	{"sampler_id", "UINTEGER"},
	{"sampling_rate", "UINTEGER"},
	{"in_if", "UINTEGER"},
	{"out_if", "UINTEGER"},
	{"src_addr_hi", "UBIGINT"}, {"src_addr_lo", "UBIGINT"},
	{"dst_addr_hi", "UBIGINT"}, {"dst_addr_lo", "UBIGINT"},
	{"next_hop_hi", "UBIGINT"}, {"next_hop_lo", "UBIGINT"},
	{"src_port", "USMALLINT"},
	{"dst_port", "USMALLINT"},
	{"proto", "UTINYINT"},
	{"tcp_flags", "UTINYINT"},
	{"tos", "UTINYINT"},
	{"icmp_type", "UTINYINT"},
	{"icmp_code", "UTINYINT"},
	{"bytes", "UBIGINT"},   // scaled by sampling_rate
	{"packets", "UBIGINT"}, // scaled by sampling_rate
	{"src_as", "UINTEGER"},
	{"dst_as", "UINTEGER"},
	{"src_mask", "UTINYINT"},
	{"dst_mask", "UTINYINT"},
	{"vlan", "USMALLINT"},
	{"direction", "UTINYINT"},
	{"forwarding_status", "UTINYINT"},
	{"mpls_label", "UINTEGER"},
	{"src_hostgroup", "VARCHAR"},
	{"dst_hostgroup", "VARCHAR"},
	{"src_country", "VARCHAR"},
	{"dst_country", "VARCHAR"},
}

// derivedFields are the flow fields not stored as such, as SQL on the stored columns.
var derivedFields = map[string]string{
	"time_ms":           "time_s * 1000 + time_frac",
	"received_delay_ms": "received_delay_s * 1000",
	"src_port":          "CASE WHEN port_swap = 1 THEN " + portHiSQL + " ELSE port_lo END",
	"dst_port":          "CASE WHEN port_swap = 1 THEN port_lo ELSE " + portHiSQL + " END",
	"bytes":             "bytes_per_packet * packets + bytes_rem",
	"src_hostgroup":     "coalesce(src_hostgroup, '')", // NULL in files older than the column
	"dst_hostgroup":     "coalesce(dst_hostgroup, '')",
	"src_country":       countrySQL("src_cc"),
	"dst_country":       countrySQL("dst_cc"),
}

// countrySQL is the country code stored as a number in column col, as text ("" for none).
func countrySQL(col string) string {
	return "CASE WHEN coalesce(" + col + ", 0) = 0 THEN '' ELSE chr((" + col + " >> 8)::INTEGER) || chr((" + col + " & 255)::INTEGER) END"
}

// portHiSQL is the higher port of a flow, from its stored bytes.
const portHiSQL = "(port_hi_msb::USMALLINT << 8 | port_hi_lsb)"

// rawViewSelect is the projection of rawView.
var rawViewSelect = func() string {
	out := make([]string, len(flowFields))
	for i, c := range flowFields {
		out[i] = c.name
		if e, ok := derivedFields[c.name]; ok {
			out[i] = "(" + e + ")::" + c.typ + " AS " + c.name
		}
	}
	// the stored country codes too, which the roll-ups keep
	out = append(out, "coalesce(src_cc, 0)::USMALLINT AS src_cc", "coalesce(dst_cc, 0)::USMALLINT AS dst_cc")
	return strings.Join(out, ", ")
}()

// rawView is a FROM item over source, a scan of raw files, that shows the flow fields
// (flowFields) instead of their stored form. DuckDB pushes projections through it, and filters
// on stored columns (time, addresses) still reach the scan.
func rawView(source string) string {
	return "(SELECT " + rawViewSelect + " FROM " + source + ")"
}

// receiveDelaySeconds is the stored receive delay of a flow received ms milliseconds after its
// end: whole seconds, rounded to the nearest. Exporters send a flow when a timeout expires (15 s
// inactive, 60 s and more active) at their next cache scan (every second or more) and stamp the
// export in whole seconds (NetFlow v9, IPFIX): below a second the delay is the collector's own
// scheduling, not information about the flow.
func receiveDelaySeconds(ms int64) int64 { return floorDiv(ms+500, 1000) }

// fieldColumns are the columns of a query field, as rawView and the roll-ups show them.
func fieldColumns(f query.Field) []string {
	if f.Kind == query.KindAddr {
		return []string{f.Name + "_hi", f.Name + "_lo"}
	}
	return []string{f.Name}
}
