package syncgate

// Code is a stable, machine-readable error or rejection code: what a client
// branches on. Every code syncgate itself sends is a constant below, listed
// by ErrorCodes or RejectionCodes; docs/openapi.yaml lists the same, error
// codes as an enum and rejection codes as examples of an open set, since a
// guest's own codes pass through as data (tests/openapi_test.go).
type Code string

// Error codes: the "code" of an error body, by the Kind they come with.
const (
	CodeInternal            Code = "internal"               // Internal
	CodeRouteNotFound       Code = "route_not_found"        // NotFound: no route for the path
	CodeMethodNotAllowed    Code = "method_not_allowed"     // NotAllowed
	CodeInvalidUTF8         Code = "invalid_utf8"           // Invalid: body or data
	CodeInvalidJSON         Code = "invalid_json"           // Invalid
	CodeInvalidBody         Code = "invalid_body"           // Invalid: not {"batch":[…]}
	CodeDuplicateKey        Code = "duplicate_key"          // Invalid; also a rejection (unique index)
	CodeInvalidEntry        Code = "invalid_entry"          // Invalid
	CodeInvalidOp           Code = "invalid_op"             // Invalid
	CodeInvalidTable        Code = "invalid_table"          // Invalid
	CodeTableNotAllowed     Code = "table_not_allowed"      // Invalid: not in the allow-list
	CodeInvalidData         Code = "invalid_data"           // Invalid
	CodeIDMismatch          Code = "id_mismatch"            // Invalid
	CodeInvalidID           Code = "invalid_id"             // Invalid
	CodeInvalidKey          Code = "invalid_key"            // Invalid: $, dot or NUL in a data key
	CodeInvalidValue        Code = "invalid_value"          // Invalid
	CodeInvalidNumber       Code = "invalid_number"         // Invalid
	CodeTooDeep             Code = "too_deep"               // Invalid
	CodeTooManyOps          Code = "too_many_ops"           // TooLarge
	CodeBodyTooLarge        Code = "body_too_large"         // TooLarge
	CodeBodyUnreadable      Code = "body_unreadable"        // Invalid
	CodeUnsupportedMedia    Code = "unsupported_media_type" // Unsupported
	CodeUnsupportedEncoding Code = "unsupported_encoding"   // Unsupported
	CodeBatchRejected       Code = "batch_rejected"         // Rejected (strict mode)
	CodeMissingToken        Code = "missing_token"          // Unauthorized
	CodeInvalidToken        Code = "invalid_token"          // Unauthorized
	CodeInvalidUserID       Code = "invalid_user_id"        // Invalid (/token)
	CodeInvalidAPIKey       Code = "invalid_api_key"        // Unauthorized (/token)
	CodeInvalidIDToken      Code = "invalid_id_token"       // Unauthorized (/token, jwks exchange)
	CodeUpstreamUnavailable Code = "upstream_unavailable"   // Unavailable (/token, jwks exchange)
	CodeRegisteredClaim     Code = "registered_claim"       // Invalid (POST /token: sub, aud, exp, … are syncgate's own)
	CodeClaimNotAllowed     Code = "claim_not_allowed"      // Invalid (POST /token: a claim TOKEN_CLAIMS does not list)
	CodeClaimsTooLarge      Code = "claims_too_large"       // Invalid (/token: the token would be over 8 KiB)
	CodeDatabaseUnavailable Code = "database_unavailable"   // Unavailable
	CodeGuestUnavailable    Code = "guest_unavailable"      // Unavailable
	CodeGuestsLoading       Code = "guests_loading"         // Unavailable
	CodeInvalidAdminKey     Code = "invalid_admin_key"      // Unauthorized (/admin)
	CodeNoSuchRejection     Code = "no_such_rejection"      // NotFound (/admin/api)
	CodeInvalidFilter       Code = "invalid_filter"         // Invalid (/admin/api)
	CodeAttachmentNotFound  Code = "attachment_not_found"   // NotFound (/attachments)
	CodeNotOwner            Code = "not_owner"              // Forbidden (/attachments: another user's)
	CodeRangeNotSatisfiable Code = "range_not_satisfiable"  // Unsatisfiable (/attachments)
)

// Rejection codes: the "code" of one rejected op in a 200 answer and in the
// dead-letter collection. These are syncgate's own (the host's and the
// stock schema gate's, which always runs). The set is open: any guest may
// reject with a code of its own, which is data passed through unchanged and
// never a constant here (docs/openapi.yaml documents RejectionCode so).
const (
	CodeDocumentNotFound   Code = "not_found"           // PATCH of a document that does not exist
	CodeTypeConversion     Code = "type_conversion"     // a value does not convert to its x-bsonType
	CodeGuestFailed        Code = "guest_failed"        // the guest trapped, timed out or answered badly
	CodeRejected           Code = "rejected"            // a guest rejected without a code
	CodeDocumentValidation Code = "document_validation" // the collection's validator refused it
	CodeDatabaseRefused    Code = "database_refused"    // another permanent database error
	CodeSchemaViolation    Code = "schema_violation"    // schema gate
	CodeUnknownTable       Code = "unknown_table"       // schema gate: no schema for the table
	// CodeTransactionRejected: another op of the same client transaction
	// (tx_id) was rejected by a guest that asked to reject the whole
	// transaction (guest.RejectTransaction).
	CodeTransactionRejected Code = "transaction_rejected"
	CodeConflict            Code = "conflict" // a conflict policy's guest, or the host at a conditional write: the write lost to the stored document
	// CodeForbidden: write authorization refused the op (the stock
	// authorize guest: rules files, sync scope; docs/authorization.md), or
	// an attachments rules file refused a PUT or DELETE of /attachments (a
	// 403).
	CodeForbidden Code = "forbidden"
)

// ErrorCodes lists the error codes, RejectionCodes the rejection codes.
// The decoder's op-level codes (invalid_op, invalid_key, …) are both: a
// rejection of one entry, and the 422's first detail in strict mode.
func ErrorCodes() []Code {
	return []Code{
		CodeInternal, CodeRouteNotFound, CodeMethodNotAllowed, CodeInvalidUTF8, CodeInvalidJSON, CodeInvalidBody,
		CodeDuplicateKey, CodeInvalidEntry, CodeInvalidOp, CodeInvalidTable, CodeTableNotAllowed, CodeInvalidData,
		CodeIDMismatch, CodeInvalidID, CodeInvalidKey, CodeInvalidValue, CodeInvalidNumber, CodeTooDeep,
		CodeTooManyOps, CodeBodyTooLarge, CodeBodyUnreadable, CodeUnsupportedMedia, CodeUnsupportedEncoding,
		CodeBatchRejected, CodeMissingToken, CodeInvalidToken, CodeInvalidUserID, CodeInvalidAPIKey,
		CodeInvalidIDToken, CodeUpstreamUnavailable, CodeRegisteredClaim, CodeClaimNotAllowed, CodeClaimsTooLarge,
		CodeDatabaseUnavailable, CodeGuestUnavailable, CodeGuestsLoading,
		CodeInvalidAdminKey, CodeNoSuchRejection, CodeInvalidFilter,
		CodeAttachmentNotFound, CodeNotOwner, CodeRangeNotSatisfiable,
		CodeForbidden, // /attachments under an attachments rules file
	}
}

// RejectionCodes: see ErrorCodes.
func RejectionCodes() []Code {
	return []Code{
		CodeDocumentNotFound, CodeTypeConversion, CodeGuestFailed, CodeRejected, CodeDuplicateKey,
		CodeDocumentValidation, CodeDatabaseRefused, CodeSchemaViolation, CodeUnknownTable,
		CodeTransactionRejected,
		// A well-framed entry that is not a valid op is one rejection too.
		CodeInvalidEntry, CodeInvalidOp, CodeInvalidTable, CodeTableNotAllowed, CodeInvalidData, CodeIDMismatch,
		CodeInvalidID, CodeInvalidKey, CodeInvalidValue, CodeInvalidNumber, CodeTooDeep,
		CodeConflict, CodeForbidden,
	}
}
