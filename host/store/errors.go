package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Error classification: transient database failures become an Unavailable
// *syncgate.Error (the client retries); permanent per-op refusals become that
// op's rejection with a client-safe reason.

// refusal is op's rejection for a permanent database write error.
func refusal(op syncgate.Op, code int, msg string) *syncgate.Rejection {
	c, reason := permanentReason(code, msg)
	return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: c, Reason: reason}
}

// permanentReason gives a client-safe reason for a database write error.
func permanentReason(code int, msg string) (syncgate.Code, string) {
	switch code {
	case 11000, 11001:
		return syncgate.CodeDuplicateKey, "a document with the same unique key already exists"
	case 121:
		return syncgate.CodeDocumentValidation, "the database's collection validator refused the document"
	case 17419, 10334, 2:
		return syncgate.CodeDatabaseRefused, "the database refused the document: " + truncate(msg, 200)
	}
	return syncgate.CodeDatabaseRefused, fmt.Sprintf("the database refused the write (code %d)", code)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// classify wraps err with the operation. Transient failures (network,
// timeouts, server selection, not primary, shutdown) become an Unavailable
// *syncgate.Error, so the client is told to retry.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("store: %s: %w", op, err)
	if isTransient(err) {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
			Message: "the database is unavailable; retry later", Err: wrapped}
	}
	return wrapped
}

func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mongo.ErrClientDisconnected) ||
		mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var sse mongo.ServerError
	if errors.As(err, &sse) {
		if sse.HasErrorLabel("RetryableWriteError") || sse.HasErrorLabel("TransientTransactionError") ||
			sse.HasErrorLabel("NetworkError") {
			return true
		}
		for _, c := range transientCodes {
			if sse.HasErrorCode(c) {
				return true
			}
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "server selection") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no reachable servers") || ferretInterrupted(err)
}

// ferretInterrupted reports FerretDB's answer to a command it was running
// while it shut down: an InternalError (code 1) whose message ends in
// "context canceled" (seen in TestReliabilityOutage as a 500: the database
// stopped mid-update). MongoDB says InterruptedAtShutdown (11600) there.
func ferretInterrupted(err error) bool {
	var sse mongo.ServerError
	return errors.As(err, &sse) && sse.HasErrorCode(1) && strings.Contains(err.Error(), "context canceled")
}

// transientCodes are MongoDB error codes that mean "try again later".
var transientCodes = []int{
	6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 24, 112, 251, 46,
}

func transientCode(code int) bool {
	for _, c := range transientCodes {
		if c == code {
			return true
		}
	}
	return false
}
