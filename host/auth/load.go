package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySource is where the server's signing and published keys come from:
// the configured pair and extra public keys, or, in development (no pair
// configured), a pair kept in DevDir.
type KeySource struct {
	PublicKey, PrivateKey string   // POWERSYNC_PUBLIC_KEY, POWERSYNC_PRIVATE_KEY
	Extra                 []string // POWERSYNC_PUBLIC_KEYS_EXTRA
	// DevDir, when set, holds the development key pair (dev-keys.env),
	// generated on first use; the configured pair is then not read.
	DevDir string
}

// keyHint ends every message about a key that does not parse.
const keyHint = "; make a pair with: ./bin/syncgate keys generate"

// Parse parses the configured keys, reporting every problem (not only the
// first), so start-up lists them with the configuration's. A private key
// among the extra keys is refused: /jwks would publish only its public
// half, but a secret has no place in a variable meant for public keys.
func (s KeySource) Parse() (signing *Key, extra []*Key, errs []error) {
	if s.DevDir == "" && s.PublicKey != "" && s.PrivateKey != "" {
		priv, perr := ParseKey(s.PrivateKey)
		if perr != nil {
			errs = append(errs, fmt.Errorf("POWERSYNC_PRIVATE_KEY: %w%s", perr, keyHint))
		}
		pub, err := ParseKey(s.PublicKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEY: %w%s", err, keyHint))
		}
		if perr == nil && err == nil {
			if signing, err = Pair(priv, pub); err != nil {
				errs = append(errs, fmt.Errorf("POWERSYNC_PRIVATE_KEY/POWERSYNC_PUBLIC_KEY: %w", err))
			}
		}
	}
	for i, v := range s.Extra {
		if strings.TrimSpace(v) == "" {
			continue
		}
		k, err := ParseKey(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA[%d]: %w%s", i, err, keyHint))
		case k.Private != nil:
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA[%d]: this is a private key (kid %q); put only the public key (the POWERSYNC_PUBLIC_KEY line of ./bin/syncgate keys generate) here, and keep the private one secret", i, k.KID))
		default:
			extra = append(extra, k)
		}
	}
	return signing, extra, errs
}

// Load builds the key set. In development it also returns the warning the
// caller must log (which file signs tokens, or that it was just made).
func (s KeySource) Load() (keys *Keys, devWarning string, err error) {
	var signing *Key
	if s.DevDir != "" {
		if signing, devWarning, err = devKeys(s.DevDir); err != nil {
			return nil, "", err
		}
	}
	envSigning, extra, errs := s.Parse()
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("config: %w", errors.Join(errs...))
	}
	if signing == nil {
		signing = envSigning
	}
	keys, err = NewKeys(signing, extra...)
	return keys, devWarning, err
}

// devKeys loads the development key pair from dir, generating and storing
// it on first use.
func devKeys(dir string) (*Key, string, error) {
	path := filepath.Join(dir, "dev-keys.env")
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "POWERSYNC_PRIVATE_KEY="); ok {
				k, err := ParseKey(v)
				if err != nil {
					return nil, "", fmt.Errorf("development keys %s: %w (delete the file to make new ones)", path, err)
				}
				return k, "DEVELOPMENT KEYS in use: tokens are signed with a key from " + path + " (kid " + k.KID + "); set POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY in production", nil
			}
		}
		return nil, "", fmt.Errorf("development keys %s: no POWERSYNC_PRIVATE_KEY line (delete the file to make new ones)", path)
	}
	k, err := Generate("RS256", "")
	if err != nil {
		return nil, "", err
	}
	pub, priv, err := k.EnvLines()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("development keys: %w", err)
	}
	content := "# development keys made by syncgate; never use in production\nPOWERSYNC_PUBLIC_KEY=" + pub + "\nPOWERSYNC_PRIVATE_KEY=" + priv + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return nil, "", fmt.Errorf("development keys: %w", err)
	}
	return k, "DEVELOPMENT KEYS generated and stored in " + path + " (kid " + k.KID + "); set POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY in production", nil
}
