// Package scenarios holds the simulator's scenario files (YAML), embedded in the binary so that
// `yocho demo` and `yocho simulate --scenario demo.yaml` work from any directory.
package scenarios

import "embed"

// FS holds every scenario file of this directory, by file name.
//
//go:embed *.yaml
var FS embed.FS
