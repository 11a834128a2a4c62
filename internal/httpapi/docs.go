package httpapi

import (
	"bytes"
	"embed"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// docsUI is Swagger UI (Apache-2.0, see docsui/LICENSE), vendored so the docs
// page works without internet access.
//
//go:embed docsui
var docsUI embed.FS

// docsPage loads only same-origin assets; the initialiser is a separate file
// so the page runs under a strict Content-Security-Policy.
const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Automation Hub API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

const docsInit = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: false
});
`

// docsCSP allows Swagger UI's inline styles and data: images, nothing remote.
const docsCSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"

var startedAt = time.Now()

func (s *Server) registerDocs() {
	page := func(body, contentType string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", docsCSP)
			w.Header().Set("Content-Type", contentType)
			http.ServeContent(w, r, "", startedAt, bytes.NewReader([]byte(body)))
		})
	}
	s.handlePlain(&huma.Operation{
		OperationID: "docs", Method: http.MethodGet, Path: "/docs", Tags: []string{tagSystem},
		Summary: "Browsable API documentation (works offline)",
		Responses: map[string]*huma.Response{"200": {
			Description: "HTML page rendering /openapi.json.",
			Content:     map[string]*huma.MediaType{"text/html": {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}, true, page(docsPage, "text/html; charset=utf-8"))

	assets := map[string]string{
		"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"swagger-ui.css":       "text/css; charset=utf-8",
	}
	s.handlePlain(&huma.Operation{
		OperationID: "docs-asset", Method: http.MethodGet, Path: "/docs/{asset}", Tags: []string{tagSystem},
		Summary:    "Static files of the documentation page",
		Parameters: []*huma.Param{{Name: "asset", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString}}},
		Responses:  map[string]*huma.Response{"200": {Description: "The file."}, "404": {Description: "No such file."}},
	}, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("asset")
		if name == "init.js" {
			page(docsInit, "text/javascript; charset=utf-8").ServeHTTP(w, r)
			return
		}
		ct, ok := assets[name]
		if !ok {
			writeDetail(w, http.StatusNotFound, "Not Found")
			return
		}
		data, err := docsUI.ReadFile("docsui/" + name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Security-Policy", docsCSP)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeContent(w, r, name, startedAt, bytes.NewReader(data))
	}))
}
