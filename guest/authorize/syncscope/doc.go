// Package syncscope checks a write against the writer's PowerSync sync config
// (Sync Streams, or legacy bucket_definitions): a write is allowed only when it
// keeps the document inside what the writer can sync — a new document after
// the write, a document over a stored one before and after, a deleted one
// before.
//
// It owns the parser of the supported SQL subset (re-implemented from
// PowerSync's documentation and published grammars; no PowerSync code), the
// SQLite-semantics evaluator of conditions over a document's JSON view, the
// list of parent lookups a config needs, and the list of queries that are
// open (no condition on the token). It does no I/O: parent documents come
// through Input.Parents, looked up by the host, one query per parent table per
// batch. It must stay pure Go without build tags: it is compiled to wasm.
//
// Values compare as PowerSync's SQLite view of a MongoDB document holds them:
// ObjectIds as hex text (the host gives documents in the client's JSON view),
// booleans as 1/0, integers and reals as numbers, nested objects and arrays
// as JSON text, id and _id both naming the document key; comparisons follow
// SQLite's rules for operands without affinity and its null rules.
// Client-chosen values (subscription.parameter, connection.parameter,
// request.parameters) are taken as whatever makes a condition true and never
// grant; a table synced only without a token condition is refused.
package syncscope
