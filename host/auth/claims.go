package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Claims beyond the registered ones: what rules (%%user.data,
// %%user.custom_data) and PowerSync's sync config (request.jwt(),
// auth.parameter()) read. They come from three places, all decided here:
// the upstream ID token (TOKEN_AUTH=jwks, the names TOKEN_CLAIMS lists),
// the calling backend's POST /token body (TOKEN_AUTH=api-key or dev, within
// the same allow-list), and the user's document in USER_DATA_COLLECTION
// (the custom_data claim, read through a UserData func: this package does
// not know the database).

// RegisteredClaims are the claim names only syncgate sets (and kid, a
// header member that must never be mistaken for one): no caller, ID token
// or user document can set them.
var RegisteredClaims = []string{"sub", "aud", "exp", "iat", "iss", "kid", "nbf", "jti"}

// CustomDataClaim is the claim that carries the user's document of
// USER_DATA_COLLECTION, App Services' custom user data (%%user.custom_data).
const CustomDataClaim = "custom_data"

// IsRegistered reports whether name is one of RegisteredClaims.
func IsRegistered(name string) bool { return slices.Contains(RegisteredClaims, name) }

// ClaimNames is an allow-list of claim names: those a minted token may
// carry beyond the registered ones (TOKEN_CLAIMS).
type ClaimNames map[string]bool

// NewClaimNames returns the allow-list of names, refusing a registered
// claim or an empty name (config validates TOKEN_CLAIMS the same way, so
// this fails only on a programmer's mistake).
func NewClaimNames(names []string) (ClaimNames, error) {
	out := ClaimNames{}
	for _, n := range names {
		switch {
		case n == "":
			return nil, errors.New("auth: claim names: empty name")
		case IsRegistered(n):
			return nil, fmt.Errorf("auth: claim names: %q is a registered claim, set by syncgate only", n)
		}
		out[n] = true
	}
	return out, nil
}

// list is the allowed names, sorted, for messages.
func (c ClaimNames) list() string {
	if len(c) == 0 {
		return "none (TOKEN_CLAIMS is empty)"
	}
	return strings.Join(slices.Sorted(maps.Keys(c)), ", ")
}

// check refuses a claim set with a registered or unlisted name, naming
// each; nothing is minted.
func (c ClaimNames) check(claims map[string]any) error {
	var registered, unlisted []string
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		switch {
		case IsRegistered(k):
			registered = append(registered, k)
		case !c[k]:
			unlisted = append(unlisted, k)
		}
	}
	if len(registered) > 0 {
		return &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeRegisteredClaim,
			Message: fmt.Sprintf("claims: %s set by syncgate only (%s)", strings.Join(quoted(registered), ", "), strings.Join(RegisteredClaims, ", ")), Details: registered}
	}
	if len(unlisted) > 0 {
		return &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeClaimNotAllowed,
			Message: fmt.Sprintf("claims: %s not allowed; TOKEN_CLAIMS allows %s", strings.Join(quoted(unlisted), ", "), c.list()), Details: unlisted}
	}
	return nil
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

// Grant is what a TokenAuth allows: the user a token may be minted for and
// the claims it carries beyond the registered ones (none: nil).
type Grant struct {
	UserID string
	Claims map[string]any
}

// UserData returns the custom user data of userID (its document of
// USER_DATA_COLLECTION as JSON values), nil when the user has none. An
// error means the data could not be read: no token is minted (503).
type UserData func(ctx context.Context, userID string) (map[string]any, error)

// maxTokenRequestBytes bounds POST /token's body: the claims must fit a
// token of maxTokenBytes anyway.
const maxTokenRequestBytes = 64 << 10

// tokenRequest is POST /token's body.
type tokenRequest struct {
	UserID *string        `json:"user_id"`
	Claims map[string]any `json:"claims"`
}

// readGrant reads the user and claims a /token request asks for: the
// user_id query parameter of a GET, or the JSON body of a POST,
// {"user_id": "…", "claims": {…}}, whose claims must be in allowed. Any
// problem is a 4xx error and nothing is minted.
func readGrant(r *http.Request, allowed ClaimNames) (Grant, error) {
	if r.Method != http.MethodPost {
		id := r.URL.Query().Get("user_id")
		return Grant{UserID: id}, CheckUserID(id)
	}
	if r.URL.Query().Has("user_id") {
		return Grant{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "POST /token: send user_id in the JSON body, not the query")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return Grant{}, syncgate.Errorf(syncgate.Unsupported, syncgate.CodeUnsupportedMedia, "POST /token: Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequestBytes+1))
	if err != nil {
		return Grant{}, &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeBodyUnreadable, Message: "POST /token: the body could not be read", Err: err}
	}
	if len(body) > maxTokenRequestBytes {
		return Grant{}, syncgate.Errorf(syncgate.TooLarge, syncgate.CodeBodyTooLarge, "POST /token: the body is over %d bytes", maxTokenRequestBytes)
	}
	return decodeTokenRequest(body, allowed)
}

// checkNumbers refuses a number no JWT library reads back (outside
// float64's range): the token would be refused by its verifiers.
func checkNumbers(v any) error {
	switch v := v.(type) {
	case json.Number:
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return fmt.Errorf("number %s is out of range", v)
		}
	case map[string]any:
		for _, x := range v {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeTokenRequest decodes and checks POST /token's body.
func decodeTokenRequest(body []byte, allowed ClaimNames) (Grant, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // claims keep their numbers exactly
	dec.DisallowUnknownFields()
	var req tokenRequest
	if err := dec.Decode(&req); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) || strings.Contains(err.Error(), "unknown field") {
			return Grant{}, &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeInvalidBody,
				Message: `POST /token: want {"user_id": "…", "claims": {…}}: ` + err.Error(), Err: err}
		}
		return Grant{}, &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeInvalidJSON, Message: "POST /token: the body is not valid JSON", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Grant{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidJSON, "POST /token: the body holds more than one JSON value")
	}
	if req.UserID == nil {
		return Grant{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id is missing or empty")
	}
	if err := CheckUserID(*req.UserID); err != nil {
		return Grant{}, err
	}
	if err := allowed.check(req.Claims); err != nil {
		return Grant{}, err
	}
	for _, k := range slices.Sorted(maps.Keys(req.Claims)) {
		if err := checkNumbers(req.Claims[k]); err != nil {
			return Grant{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidNumber, "claims: %q: %s", k, err)
		}
	}
	g := Grant{UserID: *req.UserID}
	if len(req.Claims) > 0 {
		g.Claims = req.Claims
	}
	return g, nil
}
