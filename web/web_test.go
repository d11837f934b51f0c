package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"yocho/internal/query"
)

func get(t *testing.T, h http.Handler, p string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	return rec
}

// TestEveryReferenceResolves follows index.html's links and every module's imports: each must be
// an embedded file served with a type the browser accepts for it (a module served as text/plain is
// refused, and the console would be blank).
func TestEveryReferenceResolves(t *testing.T) {
	h := Handler()
	index := get(t, h, "/").Body.String()
	refs := regexp.MustCompile(`(?:href|src)="(/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 5 {
		t.Fatalf("index.html references %d files; want the styles, uPlot and the modules", len(refs))
	}
	want := map[string]string{".js": "text/javascript", ".css": "text/css"}
	seen := map[string]bool{}
	queue := []string{}
	for _, r := range refs {
		queue = append(queue, r[1])
	}
	// Static imports, and the pages app.js imports when they are shown (import('./pages/...')).
	imports := regexp.MustCompile(`(?m)^import [^'"]*['"]([^'"]+)['"]|\bimport\(['"]([^'"]+)['"]\)`)
	version := "/v/" + Version()
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if !strings.HasPrefix(p, version+"/") {
			if strings.HasPrefix(p, "/static/") || strings.HasPrefix(p, "/vendor/") {
				t.Errorf("index.html names %s without the version: browsers would revalidate it at every load", p)
			}
			continue
		}
		rec := get(t, h, p)
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q, want it cached for good", p, cc)
		}
		p = strings.TrimPrefix(p, version)
		if seen[p] || !strings.HasPrefix(p, "/static/") && !strings.HasPrefix(p, "/vendor/") {
			continue
		}
		seen[p] = true
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", p, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); want[path.Ext(p)] != "" && !strings.HasPrefix(ct, want[path.Ext(p)]) {
			t.Errorf("GET %s: Content-Type %q, want %s", p, ct, want[path.Ext(p)])
		}
		if path.Ext(p) == ".js" && strings.HasPrefix(p, "/static/") {
			for _, m := range imports.FindAllStringSubmatch(rec.Body.String(), -1) {
				queue = append(queue, path.Join(version, path.Dir(p), m[1]+m[2]))
			}
		}
	}
	for _, p := range []string{"/static/pages/overview.js", "/static/pages/explore.js", "/static/pages/alerts.js", "/static/pages/alert.js", "/static/pages/exporters.js"} {
		if !seen[p] {
			t.Errorf("%s is not reachable from index.html", p)
		}
	}
}

func TestRoutesAndRevalidation(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/explore", "/alerts", "/alerts/20261125T104322Z-b4e20d77", "/exporters"} {
		rec := get(t, h, p)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<nav aria-label="Main">`) {
			t.Errorf("GET %s: %d, want the console's page", p, rec.Code)
		}
	}
	if rec := get(t, h, "/favicon.ico"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /favicon.ico: %d, want 404 (a file that is not there is not a page)", rec.Code)
	}
	rec := get(t, h, "/static/app.js")
	tag := rec.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on /static/app.js")
	}
	req := httptest.NewRequest(http.MethodGet, "/static/app.js", nil)
	req.Header.Set("If-None-Match", tag)
	again := httptest.NewRecorder()
	h.ServeHTTP(again, req)
	if again.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", again.Code)
	}
	// A page of an older binary asks for its version's files: it gets today's, revalidated.
	if rec := get(t, h, "/v/000000000000/static/app.js"); rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET an old version's file: %d, Cache-Control %q; want 200, no-cache", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "/v/"+Version()+"/static/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET a versioned file that is not there: %d, want 404", rec.Code)
	}
	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequest(http.MethodPost, "/", nil))
	if post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", post.Code)
	}
}

// TestVendoredWithLicence checks that each vendored library carries its licence.
func TestVendoredWithLicence(t *testing.T) {
	dirs, err := fs.ReadDir(FS(), "vendor")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("vendor/: %v", err)
	}
	for _, d := range dirs {
		if _, err := fs.Stat(FS(), "vendor/"+d.Name()+"/LICENSE"); err != nil {
			t.Errorf("vendor/%s has no LICENSE", d.Name())
		}
	}
}

// TestBootInlined checks that index.html carries static/boot.js inline, that the page's
// Content-Security-Policy lets exactly that script run (a browser refuses an inline script whose
// hash it does not list, and the console would then wait for its modules to ask the API), and
// that every module boot.js preloads exists.
func TestBootInlined(t *testing.T) {
	rec := get(t, Handler(), "/")
	boot, err := files.ReadFile("static/boot.js")
	if err != nil {
		t.Fatal(err)
	}
	inline := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(rec.Body.String(), -1)
	if len(inline) != 1 || inline[0][1] != string(boot) {
		t.Fatalf("index.html has %d inline scripts; want one, static/boot.js as it is", len(inline))
	}
	sum := sha256.Sum256(boot)
	want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' "+want+";") {
		t.Errorf("Content-Security-Policy %q does not allow boot.js (%s)", csp, want)
	}
	for _, m := range regexp.MustCompile(`'((?:pages/)?[a-z]+\.js)'`).FindAllStringSubmatch(string(boot), -1) {
		if _, err := fs.Stat(FS(), "static/"+m[1]); err != nil {
			t.Errorf("boot.js preloads %s: %v", m[1], err)
		}
	}
}

// TestFilterBoxKnowsEveryField checks that the filter box (static/filter.js) suggests every
// field of the filter language (internal/query), so that Explore offers them to group by.
func TestFilterBoxKnowsEveryField(t *testing.T) {
	js := get(t, Handler(), "/static/filter.js").Body.String()
	for _, f := range query.Fields() {
		if !strings.Contains(js, "['"+f.Name+"', ") {
			t.Errorf("static/filter.js's FIELDS lacks %s", f.Name)
		}
	}
}
