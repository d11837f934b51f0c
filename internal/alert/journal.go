package alert

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// journal keeps alerts in a JSON-lines file, one snapshot of an alert per line: the last line of
// an id wins. It is compacted (rewritten with one line per alert) at start and when it grows.
// Callers serialise access (the Manager's lock).
type journal struct {
	dir   string
	f     *os.File
	w     *bufio.Writer
	lines int
}

func (j *journal) path() string { return filepath.Join(j.dir, "alerts.jsonl") }

// load reads every alert saved. A torn last line (a crash mid-write) is skipped; any other bad
// line is an error, so that a damaged file is not silently overwritten.
func (j *journal) load() ([]*Alert, error) {
	f, err := os.Open(j.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byID := map[string]*Alert{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line, badLine := 0, 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if badLine != 0 {
			return nil, fmt.Errorf("%s: line %d: bad alert record", j.path(), badLine)
		}
		var a Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.ID == "" {
			badLine = line
			continue
		}
		if _, seen := byID[a.ID]; !seen {
			order = append(order, a.ID)
		}
		byID[a.ID] = &a
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", j.path(), err)
	}
	out := make([]*Alert, 0, len(order))
	for _, id := range order {
		out = append(out, byID[id])
	}
	return out, nil
}

// append writes one alert's snapshot and flushes it to the file.
func (j *journal) append(a *Alert) error {
	if j.f == nil {
		if err := j.open(); err != nil {
			return err
		}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return err
	}
	j.lines++
	return j.w.Flush()
}

func (j *journal) open() error {
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	j.f, j.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

// rewrite replaces the file with one line per alert, atomically (a new file renamed over it).
func (j *journal) rewrite(alerts []*Alert) error {
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return err
	}
	j.close()
	tmp := j.path() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := len(alerts) - 1; i >= 0; i-- { // oldest first
		if err := enc.Encode(alerts[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path()); err != nil {
		return err
	}
	j.lines = len(alerts)
	return j.open()
}

func (j *journal) close() {
	if j.f != nil {
		_ = j.w.Flush()
		_ = j.f.Close()
		j.f, j.w = nil, nil
	}
}
