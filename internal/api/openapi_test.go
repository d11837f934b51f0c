package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// mountAll builds a server with every area of the API mounted, as cmd/yocho does, on no data:
// the handlers are not called, only their routes are read.
func mountAll(t *testing.T) *Server {
	t.Helper()
	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountExporters(s, nil)
	MountAlerts(s, nil)
	MountFlows(s, nil, nil)
	MountCnC(s, nil)
	MountMitigation(s, nil, nil)
	return s
}

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: version %q, want 3.x", doc.OpenAPI)
	}
	return doc
}

// documented lists the document's operations as ServeMux patterns ("GET /api/v1/alerts/{id}").
func documented(doc openAPIDoc) []string {
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	want := documented(doc)
	got := mountAll(t).Routes()
	slices.Sort(got)
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("route %q is served but not in openapi.json", r)
		}
	}
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("openapi.json documents %q, which is not served", r)
		}
	}
}

// TestEveryMountIsChecked reads the sources that mount routes (this package and cmd/yocho) and
// fails when one mounts a pattern that mountAll does not produce: a new area of the API must be
// added to mountAll, so that TestOpenAPIMatchesRoutes sees it.
func TestEveryMountIsChecked(t *testing.T) {
	routes := mountAll(t).Routes()
	fset := token.NewFileSet()
	var files []string
	for _, dir := range []string{".", "../../cmd/yocho"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Mount" || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: Mount with a pattern that is not a string literal: the OpenAPI check cannot see it", fset.Position(call.Pos()))
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			found++
			if !slices.Contains(routes, pattern) {
				t.Errorf("%s mounts %q, which mountAll in openapi_test.go does not: add its Mount function there", fset.Position(call.Pos()), pattern)
			}
			return true
		})
	}
	if found == 0 {
		t.Fatal("found no Mount call: the source scan is broken")
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					ref, _ := x.(string)
					if !resolves(doc, ref) {
						t.Errorf("%s: $ref %q does not resolve", at, ref)
					}
					continue
				}
				walk(x, at+"/"+k)
			}
		case []any:
			for i, x := range v {
				walk(x, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	// Every path parameter of a path is declared on its operations.
	for p, ops := range doc["paths"].(map[string]any) {
		for _, seg := range strings.Split(p, "/") {
			if !strings.HasPrefix(seg, "{") {
				continue
			}
			name := strings.Trim(seg, "{}")
			for m, op := range ops.(map[string]any) {
				if !declaresPathParam(doc, op, name) {
					t.Errorf("%s %s: path parameter %q is not declared", m, p, name)
				}
			}
		}
	}
}

func resolves(doc map[string]any, ref string) bool {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func declaresPathParam(doc map[string]any, op any, name string) bool {
	params, _ := op.(map[string]any)["parameters"].([]any)
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			rest, _ := strings.CutPrefix(ref, "#/components/parameters/")
			pm, _ = doc["components"].(map[string]any)["parameters"].(map[string]any)[rest].(map[string]any)
		}
		if pm["in"] == "path" && pm["name"] == name && pm["required"] == true {
			return true
		}
	}
	return false
}

func TestServesOpenAPIAndUI(t *testing.T) {
	h := mountAll(t).Handler()
	for _, tc := range []struct {
		path, wantType string
		wantStatus     int
		wantBody       string
	}{
		{"/api/v1/openapi.json", "application/json", 200, `"openapi"`},
		{"/", "text/html", 200, "<nav"},
		{"/explore", "text/html", 200, "<nav"},
		{"/alerts/some-id", "text/html", 200, "<nav"},
		{"/static/app.js", "text/javascript", 200, "import"},
		{"/vendor/uplot/LICENSE", "text/plain", 200, "MIT"},
		{"/static/missing.js", "text/plain", 404, ""},
		{"/api/v1/no-such-thing", "application/json", 404, `"error"`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.wantStatus {
			t.Errorf("GET %s: status %d, want %d", tc.path, rec.Code, tc.wantStatus)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.wantType)
		}
		if !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.wantBody)
		}
	}
}

func TestTokenProtectsAPINotUI(t *testing.T) {
	s := New(Config{Token: "s3cret"}, prometheus.NewRegistry(), nil)
	h := s.Handler()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/", "", 200},
		{"/static/app.css", "", 200},
		{"/api/v1/openapi.json", "", 401},
		{"/api/v1/openapi.json", "Bearer wrong", 401},
		{"/api/v1/openapi.json", "Bearer s3cret", 200},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("GET %s (%q): status %d, want %d", tc.path, tc.auth, rec.Code, tc.want)
		}
		if tc.want == 401 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET %s: 401 without a JSON error: %s", tc.path, rec.Body.String())
		}
	}
}
