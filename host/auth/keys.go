// Package auth owns syncgate's tokens: parsing keys (the PowerSync
// template's base64 JWK format and PEM), publishing them as a JWKS, minting
// PowerSync tokens, deciding who may mint and with which claims (claims.go),
// and verifying the tokens clients send to /upload. It never reads the
// database: custom user data comes in through a UserData func.
//
// It reads no environment and does no logging; keys and settings come in
// from main, errors go out.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// Key is one parsed key: its id, its pinned algorithm, the public key, and
// the private key when it signs.
type Key struct {
	KID     string
	Alg     string
	Public  crypto.PublicKey
	Private crypto.Signer // nil for verify-only keys
}

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// ParseKey reads a key in the template's format (standard base64 of a JWK's
// JSON text), as raw JWK JSON, as PEM text, or from a PEM file path.
func ParseKey(value string) (*Key, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, errors.New("empty")
	}
	if strings.HasPrefix(value, "-----BEGIN") {
		return parsePEM([]byte(value))
	}
	if strings.HasPrefix(value, "{") {
		return parseJWK([]byte(value))
	}
	if raw, err := base64.StdEncoding.DecodeString(value); err == nil {
		return parseJWK(raw)
	}
	if raw, err := base64.RawStdEncoding.DecodeString(value); err == nil {
		return parseJWK(raw)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(value); err == nil {
		return parseJWK(raw)
	}
	if b, err := os.ReadFile(value); err == nil {
		return parsePEM(b)
	}
	return nil, errors.New("not base64 of a JWK, JWK JSON, PEM, nor a readable PEM file")
}

func parseJWK(raw []byte) (*Key, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, fmt.Errorf("not a JWK: %w", err)
	}
	if _, symmetric := jwk.Key.([]byte); symmetric {
		return nil, errors.New("symmetric keys are never used: PowerSync must not be able to mint tokens")
	}
	if !jwk.Valid() {
		return nil, errors.New("invalid JWK")
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("JWK use is %q, want sig", jwk.Use)
	}
	if jwk.KeyID == "" {
		return nil, errors.New("JWK has no kid")
	}
	k := &Key{KID: jwk.KeyID, Alg: jwk.Algorithm}
	switch key := jwk.Key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		k.Private = key.(crypto.Signer)
		k.Public = k.Private.Public()
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		k.Public = key
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return k, k.check()
}

func parsePEM(b []byte) (*Key, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	k := &Key{}
	switch block.Type {
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		var key any
		var err error
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM private key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported PEM key type %T", key)
		}
		k.Private, k.Public = s, s.Public()
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM public key: %w", err)
		}
		k.Public = key
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM public key: %w", err)
		}
		k.Public = key
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("PEM public key: %w", err)
	}
	sum := sha256.Sum256(der)
	k.KID = "powersync-" + hex.EncodeToString(sum[:5])
	return k, k.check()
}

// check fills a missing alg from the key type and refuses weak keys and an
// alg that does not fit the key.
func (k *Key) check() error {
	want := ""
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key has %d bits, want at least %d", pub.N.BitLen(), minRSABits)
		}
		if k.Alg == "" {
			k.Alg = "RS256"
		}
		switch k.Alg {
		case "RS256", "RS384", "RS512":
		default:
			return fmt.Errorf("alg %q does not fit an RSA key (want RS256, RS384 or RS512)", k.Alg)
		}
		return nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			want = "ES256"
		case elliptic.P384():
			want = "ES384"
		case elliptic.P521():
			want = "ES512"
		default:
			return errors.New("unsupported EC curve")
		}
	case ed25519.PublicKey:
		want = "EdDSA"
	default:
		return fmt.Errorf("unsupported key type %T", k.Public)
	}
	if k.Alg == "" {
		k.Alg = want
	}
	if k.Alg != want {
		return fmt.Errorf("alg %q does not fit the key (want %s)", k.Alg, want)
	}
	return nil
}

// PublicJWK returns the key's public JWK: kty, key members, alg, kid, use.
func (k *Key) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}
}

// Pair checks that priv and pub form one key pair with one kid and alg, and
// returns the signing key.
func Pair(priv, pub *Key) (*Key, error) {
	if priv.Private == nil {
		return nil, errors.New("POWERSYNC_PRIVATE_KEY holds a public key only")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := priv.Public.(equaler); !ok || !e.Equal(pub.Public) {
		return nil, errors.New("POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY are not one key pair")
	}
	if priv.KID != pub.KID {
		return nil, fmt.Errorf("kid differs: private %q, public %q", priv.KID, pub.KID)
	}
	if priv.Alg != pub.Alg {
		return nil, fmt.Errorf("alg differs: private %q, public %q", priv.Alg, pub.Alg)
	}
	return priv, nil
}

// Generate makes a new signing key for alg (RS256, ES256 or EdDSA). An empty
// kid becomes "powersync-" and 10 random hex characters, as the template's
// generator does.
func Generate(alg, kid string) (*Key, error) {
	if kid == "" {
		var b [5]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		kid = "powersync-" + hex.EncodeToString(b[:])
	}
	var s crypto.Signer
	var err error
	switch alg {
	case "RS256":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported alg %q (want RS256, ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, err
	}
	return &Key{KID: kid, Alg: alg, Private: s, Public: s.Public()}, nil
}

// EnvLines returns the key as the template's two environment values:
// standard padded base64 of the public and of the private JWK's JSON.
func (k *Key) EnvLines() (public, private string, err error) {
	pubJSON, err := json.Marshal(jose.JSONWebKey{Key: k.Public, KeyID: k.KID, Algorithm: k.Alg})
	if err != nil {
		return "", "", err
	}
	privJSON, err := json.Marshal(jose.JSONWebKey{Key: k.Private, KeyID: k.KID, Algorithm: k.Alg})
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(pubJSON), base64.StdEncoding.EncodeToString(privJSON), nil
}

// Keys is the key set: one signing key and any extra verify-only keys
// (rotation). It is immutable after NewKeys.
type Keys struct {
	signing *Key
	byKID   map[string]*Key
	jwks    []byte
}

// NewKeys builds the key set; kids must be unique.
func NewKeys(signing *Key, extra ...*Key) (*Keys, error) {
	ks := &Keys{signing: signing, byKID: map[string]*Key{signing.KID: signing}}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{signing.PublicJWK()}}
	for _, k := range extra {
		if _, dup := ks.byKID[k.KID]; dup {
			return nil, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA: kid %q appears twice", k.KID)
		}
		ks.byKID[k.KID] = &Key{KID: k.KID, Alg: k.Alg, Public: k.Public}
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	ks.jwks = b
	return ks, nil
}

// JWKS returns the public key set's JSON: public members only.
func (ks *Keys) JWKS() []byte { return ks.jwks }

// Signing is the key that signs minted tokens.
func (ks *Keys) Signing() *Key { return ks.signing }

// Lookup returns the verification key with kid.
func (ks *Keys) Lookup(kid string) (*Key, bool) {
	k, ok := ks.byKID[kid]
	return k, ok
}
