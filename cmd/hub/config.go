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
	"sort"
	"strings"

	"github.com/joho/godotenv"

	"automationhub/internal/config"
)

// legacyKeys are settings of the previous backend that the hub does not need;
// they are accepted in a .env without a warning.
var legacyKeys = map[string]bool{
	"API_V1_PREFIX": true, "SQL_SERVER_HOST": true, "SQL_SERVER_PORT": true, "SQL_SERVER_DATABASE": true,
	"SQL_SERVER_USER": true, "SQL_SERVER_PASSWORD": true, "SQL_SERVER_DRIVER": true,
	"SQL_SERVER_TRUST_SERVER_CERTIFICATE": true, "SQL_SERVER_ODBC_EXTRA": true,
	"NEXT_PUBLIC_API_BASE_URL": true, "NEXT_PUBLIC_WS_BASE_URL": true, "NEXT_PUBLIC_API_TOKEN": true,
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
	path := cfg.DataDir + string(os.PathSeparator) + "secret_key"
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 32 {
			return k, false, nil
		}
		return "", false, fmt.Errorf("%s holds fewer than 32 characters; delete it or set SECRET_KEY", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return "", false, fmt.Errorf("create %s: %w", cfg.DataDir, err)
	}
	// Write a temporary file, then hard-link it into place: the link fails if
	// another process got there first, and nobody ever sees a partial key.
	k := randomToken(48)
	tmp, err := os.CreateTemp(cfg.DataDir, ".secret_key-*")
	if err != nil {
		return "", false, fmt.Errorf("create key file in %s: %w", cfg.DataDir, err)
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
		return ensureSecretKey(cfg)
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
