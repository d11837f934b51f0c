// Package web is yocho's web console: static HTML, CSS and JavaScript modules, with the charting
// library vendored under vendor/, embedded in the binary so that the console needs nothing more to
// install and works without internet access. The pages read the JSON API under /api/v1/; this
// package only serves the files.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
)

//go:embed index.html static vendor
var files embed.FS

//go:embed index.html
var indexHTML []byte

// FS is the console's files: index.html, static/ (the application) and vendor/ (third-party code
// with its licences).
func FS() fs.FS { return files }

// Handler serves the console. Files under /static/ and /vendor/ are served as they are; any other
// path that is not a file (/explore, /alerts/42...) answers index.html, whose script routes on the
// path, so that every page of the console has a URL that can be shared and reloaded.
//
// index.html names the files under /v/VERSION/ (VERSION: a hash of every embedded file), and
// those answers may be cached for good ("immutable"): a browser then loads the console's scripts
// from its cache and its compiled-code cache without asking the server again, and a new binary
// with other files has another VERSION. The modules import each other by relative paths, so they
// stay under the same VERSION. The plain /static/ and /vendor/ paths answer too, revalidated.
func Handler() http.Handler {
	static := http.FileServerFS(files)
	etags := entityTags()
	version := Version()
	index, bootHash := versionedIndex(version)
	csp := "default-src 'self'; script-src 'self' '" + bootHash + "'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		cache := "no-cache" // the files change only with the binary: let the browser revalidate, cheaply
		if rest, ok := strings.CutPrefix(p, "/v/"); ok {
			v, file, _ := strings.Cut(rest, "/")
			if v == version {
				cache = "public, max-age=31536000, immutable"
			}
			p = "/" + file
			r = r.Clone(r.Context())
			r.URL.Path = p
		}
		if strings.HasPrefix(p, "/static/") || strings.HasPrefix(p, "/vendor/") {
			w.Header().Set("Cache-Control", cache)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			if tag, ok := etags[strings.TrimPrefix(p, "/")]; ok {
				w.Header().Set("ETag", tag) // lets a revalidation answer 304
			}
			static.ServeHTTP(w, r)
			return
		}
		if path.Ext(p) != "" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", csp)
		_, _ = w.Write(index)
	})
}

// Version is a hash of every embedded file: the console's files are named under /v/VERSION/.
func Version() string {
	tags := entityTags()
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(tags)) {
		fmt.Fprintf(h, "%s %s\n", name, tags[name])
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// bootTag is how index.html names static/boot.js, which versionedIndex inlines.
const bootTag = `<script src="/static/boot.js"></script>`

// versionedIndex is index.html with static/boot.js inlined (it starts the page's first API
// requests before any other file is asked for) and its references to /static/ and /vendor/ moved
// under /v/VERSION/. It returns the page and the inline script's hash, the Content-Security-Policy
// source that lets it run ('sha256-...').
func versionedIndex(version string) ([]byte, string) {
	boot, err := files.ReadFile("static/boot.js")
	if err != nil || !bytes.Contains(indexHTML, []byte(bootTag)) {
		panic("web: index.html must name static/boot.js, an embedded file") // a build without it is broken
	}
	sum := sha256.Sum256(boot)
	s := strings.Replace(string(indexHTML), bootTag, "<script>"+string(boot)+"</script>", 1)
	for _, dir := range []string{"/static/", "/vendor/"} {
		s = strings.ReplaceAll(s, `="`+dir, `="/v/`+version+dir)
	}
	return []byte(s), "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// entityTags hashes every embedded file once: embedded files have no modification time, so the
// hash is what lets the browser revalidate its copy without downloading it again.
func entityTags() map[string]string {
	tags := map[string]string{}
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		tags[name] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	return tags
}
