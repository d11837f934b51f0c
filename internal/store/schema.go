package store

import "yocho/internal/query"

// rawColumn is one column of the raw tier, in table order.
type rawColumn struct {
	name string
	typ  string // DuckDB type
}

// rawColumns is the raw tier's schema, in file order (see writer.rawColumn).
var rawColumns = []rawColumn{
	{"time_ms", "BIGINT"},           // StartMs
	{"duration_ms", "BIGINT"},       // EndMs - StartMs
	{"received_delay_ms", "BIGINT"}, // ReceivedMs - EndMs
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
}

// fieldColumns are the stored columns of a query field.
func fieldColumns(f query.Field) []string {
	if f.Kind == query.KindAddr {
		return []string{f.Name + "_hi", f.Name + "_lo"}
	}
	return []string{f.Name}
}
