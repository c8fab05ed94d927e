package batch

import (
	"context"

	"github.com/syncgate/syncgate/host/syncgate"
)

// convert types each op's data, and the stored values its write expects
// (conflict policies), as the schemas declare (x-bsonType): a date a guest
// saw as text is a date in the document and in the write's filter.
func convert(_ context.Context, _ *Service, st *state) error {
	st.keep("convert", syncgate.CodeTypeConversion, st.rules.Convert)
	return nil
}
