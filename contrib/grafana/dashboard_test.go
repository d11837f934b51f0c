// Package grafana holds yocho's Grafana dashboard (yocho.json, to import in Grafana) and a test
// that keeps it true to the metrics the code registers.
package grafana

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

// TestDashboardMetricsExist fails when the dashboard queries a yocho metric that no Go file of
// the repository registers (by its full name, or by its Subsystem and Name).
func TestDashboardMetricsExist(t *testing.T) {
	data, err := os.ReadFile("yocho.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string  `json:"title"`
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("yocho.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a title and a uid")
	}

	var src strings.Builder
	root := filepath.Join("..", "..")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		src.Write(b)
		src.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()

	metric := regexp.MustCompile(`\byocho_[a-z0-9_]+`)
	seen := map[string]bool{}
	exprs := 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				exprs++
				for _, m := range metric.FindAllString(tg.Expr, -1) {
					seen[strings.TrimSuffix(m, "_bucket")] = true
				}
			}
		}
	}
	walk(dash.Panels)
	if exprs == 0 || len(seen) == 0 {
		t.Fatal("no query in the dashboard")
	}
	for m := range seen {
		if !registered(code, m) {
			t.Errorf("the dashboard queries %s, which no Go file registers", m)
		}
	}
}

// registered reports whether the code names metric m whole ("yocho_store_flows_total") or as
// Namespace "yocho", a Subsystem and a Name.
func registered(code, m string) bool {
	if strings.Contains(code, `"`+m+`"`) {
		return true
	}
	rest := strings.TrimPrefix(m, "yocho_")
	for i := strings.Index(rest, "_"); i > 0; i = next(rest, i) {
		sub, name := rest[:i], rest[i+1:]
		re := regexp.MustCompile(`Subsystem:\s*"` + regexp.QuoteMeta(sub) + `"[^\n]*\n?[^\n]*Name:\s*"` + regexp.QuoteMeta(name) + `"`)
		if re.MatchString(code) {
			return true
		}
		if strings.Contains(code, `opts("`+name+`"`) && strings.Contains(code, `Subsystem: "`+sub+`"`) {
			return true
		}
	}
	return false
}

func next(s string, i int) int {
	j := strings.Index(s[i+1:], "_")
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// TestDashboardLayout checks that no two panels overlap on Grafana's 24-column grid.
func TestDashboardLayout(t *testing.T) {
	data, err := os.ReadFile("yocho.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct{ Panels []panel }
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	for i, a := range dash.Panels {
		if a.GridPos.X+a.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", a.Title)
		}
		for _, b := range dash.Panels[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}
}
