// Package docs embeds the documents the server serves (the OpenAPI spec).
// It owns no behaviour.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, served at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
