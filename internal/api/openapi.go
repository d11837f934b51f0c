package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the API, served at GET /api/v1/openapi.json. It is written
// by hand next to the handlers; TestOpenAPIMatchesRoutes fails when a route and the document
// disagree.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API (JSON). The slice is a copy.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
