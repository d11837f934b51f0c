// Package bench holds the benchmarks that compare yocho with its peers (goflow2). It is a module
// of its own so that the peers never enter the yocho binary.
package bench
