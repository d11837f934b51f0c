package mitigate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile keeps the active mitigations (one entry per alert with routes held, proposed, or
// withdrawn by an operator while its attack goes on). It is rewritten whole on each change, through
// a temporary file renamed over it: a crash leaves the old file or the new one, never half of one.
type stateFile struct {
	path string
}

type stateDoc struct {
	Version int      `json:"version"`
	Entries []*entry `json:"entries"`
}

func (f *stateFile) load() ([]*entry, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, want 1", f.path, doc.Version)
	}
	out := doc.Entries[:0]
	for _, e := range doc.Entries {
		if e != nil && e.AlertID != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *stateFile) save(entries []*entry) error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(stateDoc{Version: 1, Entries: entries}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".active-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}
