package guest

// The wire's entry points under the names the tests have always used; they
// are not part of the SDK (a guest author never calls them).

func DecodeRequest(b []byte) (*Request, error) { return decodeRequest(b, false) }

func EncodeResponse(r *Response) ([]byte, error) { return encodeResponse(r) }
