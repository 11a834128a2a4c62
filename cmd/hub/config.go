package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/joho/godotenv"

	"automationhub/internal/config"
	"automationhub/internal/keyring"
)

// legacyKeys are settings of the previous backend that the hub does not need;
// they are accepted in a .env without a warning.
var legacyKeys = map[string]bool{
	"API_V1_PREFIX": true, "SQL_SERVER_HOST": true, "SQL_SERVER_PORT": true, "SQL_SERVER_DATABASE": true,
	"SQL_SERVER_USER": true, "SQL_SERVER_PASSWORD": true, "SQL_SERVER_DRIVER": true,
	"SQL_SERVER_TRUST_SERVER_CERTIFICATE": true, "SQL_SERVER_ODBC_EXTRA": true,
	"NEXT_PUBLIC_API_BASE_URL": true, "NEXT_PUBLIC_WS_BASE_URL": true, "NEXT_PUBLIC_API_TOKEN": true,
	// QUEUE_BACKLOG alerts measure the oldest waiting run (QUEUE_BACKLOG_ALERT_SECONDS), not the queue length.
	"QUEUE_BACKLOG_ALERT_THRESHOLD": true,
}

// loadConfig merges the .env file (if present) under the process environment
// and validates the result. Unknown .env keys produce warnings, not errors:
// a .env is often shared with other tools.
func loadConfig(environ []string, dotenvPath string) (config.Config, []string, error) {
	vars := map[string]string{}
	var warnings []string
	file, err := godotenv.Read(dotenvPath)
	switch {
	case err == nil:
		var unknown []string
		for k, v := range file {
			k = strings.ToUpper(k)
			vars[k] = v
			if !config.Known(k) && !legacyKeys[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			warnings = append(warnings, fmt.Sprintf("%s: ignoring unknown settings %s", dotenvPath, strings.Join(unknown, ", ")))
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return config.Config{}, nil, fmt.Errorf("read %s: %w", dotenvPath, err)
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && config.Known(k) {
			vars[strings.ToUpper(k)] = v
		}
	}
	cfg, err := config.Load(vars)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, warnings, nil
}

func writeSettingsHelp(w io.Writer) { config.WriteHelp(w) }

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.LogLevel {
	case "DEBUG":
		level = slog.LevelDebug
	case "WARN":
		level = slog.LevelWarn
	case "ERROR":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// ensureSecretKey returns SECRET_KEY, or when it is empty a random key kept in
// dataDir/secret_key (created with mode 0600 on first use) so that tokens
// survive restarts of a single-node hub.
func ensureSecretKey(cfg config.Config) (key string, generated bool, err error) {
	if cfg.SecretKey != "" {
		return cfg.SecretKey, false, nil
	}
	return ensureKeyFile(cfg.DataDir, "secret_key", func() string { return randomToken(48) }, func(k string) error {
		if len(k) < 32 {
			return errors.New("holds fewer than 32 characters; delete it or set SECRET_KEY")
		}
		return nil
	})
}

// encryptionKeyFile is the generated ENCRYPTION_KEY of a single-node hub.
const encryptionKeyFile = "encryption_key"

// errNoEncryptionKey stops the roles that need ENCRYPTION_KEY on PostgreSQL.
var errNoEncryptionKey = errors.New("ENCRYPTION_KEY is not set: on PostgreSQL every API server and worker must share one key " +
	"(a key generated per host would not read what another wrote). Set ENCRYPTION_KEY or ENCRYPTION_KEY_FILE " +
	"(`hub secrets keygen` prints a new key; an existing .env with the previous backend's Fernet key keeps working)")

// ensureEncryptionKey returns the keyring of robot configuration: ENCRYPTION_KEY
// with ENCRYPTION_KEYS_OLD (and a key generated earlier in the data folder,
// which stays readable). Without ENCRYPTION_KEY, a single-node hub (SQLite)
// uses a random key kept in dataDir/encryption_key (mode 0600, created on
// first use: generated tells); on PostgreSQL it is errNoEncryptionKey.
func ensureEncryptionKey(cfg config.Config) (ring *keyring.Ring, generated bool, err error) {
	path := filepath.Join(cfg.DataDir, encryptionKeyFile)
	if cfg.EncryptionKey != "" {
		old := slices.Clone(cfg.EncryptionKeysOld)
		if b, err := os.ReadFile(path); err == nil {
			old = append(old, strings.TrimSpace(string(b)))
		}
		ring, err := keyring.New(cfg.EncryptionKey, old...)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return ring, false, nil
	}
	if cfg.Database().Dialect == config.Postgres {
		return nil, false, errNoEncryptionKey
	}
	key, generated, err := ensureKeyFile(cfg.DataDir, encryptionKeyFile, keyring.GenerateKey, func(k string) error {
		if _, err := keyring.ParseKey(k); err != nil {
			return fmt.Errorf("is not a valid key (%v); restore it, or set ENCRYPTION_KEY", err)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	ring, err = keyring.New(key)
	return ring, generated, err
}

// ensureKeyFile returns the key kept in dir/name, or creates the file
// (mode 0600) with a new key from generate; valid checks a key read back.
func ensureKeyFile(dir, name string, generate func() string, valid func(string) error) (key string, generated bool, err error) {
	path := dir + string(os.PathSeparator) + name
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if err := valid(k); err != nil {
			return "", false, fmt.Errorf("%s %w", path, err)
		}
		return k, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", false, fmt.Errorf("create %s: %w", dir, err)
	}
	// Write a temporary file, then hard-link it into place: the link fails if
	// another process got there first, and nobody ever sees a partial key.
	k := generate()
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", false, fmt.Errorf("create key file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(k + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return ensureKeyFile(dir, name, generate, valid)
	} else if err != nil {
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	return k, true, nil
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
