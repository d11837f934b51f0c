// Package query is yocho's language for asking about stored flows: the catalogue of fields, the
// filter language shared by the API, the CLI and the UI, the top-N, time-series and flow-search
// requests and their answers, and the choice of the storage tier that answers a request.
//
// It is pure: no I/O. The API and the CLI build requests from their parameters with the parsers
// here; the store (internal/store) executes them. A filter compiles to an SQL condition whose values
// are all bound parameters: user text never enters the SQL.
//
// Filter grammar (keywords are case-insensitive):
//
//	expr    = term { "or" term }
//	term    = factor { "and" factor }
//	factor  = "not" factor | "(" expr ")" | cond
//	cond    = field op value | field [ "not" ] "in" ( prefix | "(" value { "," value } ")" )
//	op      = "=" | "!=" | "<" | "<=" | ">" | ">="
//	value   = number | address | prefix | name      (names: tcp, udp, ingress, AS64500, ...)
//
// Example: dst_addr in 203.0.113.0/24 and proto = udp and src_port in (53, 123, 11211)
// and not exporter = 192.0.2.1
package query
