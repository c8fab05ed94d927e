package batch

import (
	"context"

	"github.com/syncgate/syncgate/host/syncgate"
)

// prepare takes the batch's ops and types their ids as the schemas
// declare (an ObjectId id must be 24 hex characters), before stored
// documents are looked up by id.
func prepare(_ context.Context, _ *Service, st *state) error {
	st.begin()
	st.keep("prepare", syncgate.CodeTypeConversion, st.rules.PrepareID)
	return nil
}
