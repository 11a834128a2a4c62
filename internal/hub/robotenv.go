package hub

import (
	"errors"
	"time"
)

// EnvVar is one variable of a robot's configuration for one environment
// (PROD, HML or TEST). Its value is stored encrypted, secret or not.
type EnvVar struct {
	RobotID  string
	EnvName  string
	Key      string
	IsSecret bool
	// KeyID names the encryption key of Ciphertext ("" for a value the
	// previous backend stored: a Fernet token).
	KeyID      string
	Ciphertext string
	// Value is the plain value where it may be shown or used: never for a
	// secret in anything an API caller sees.
	Value     *string
	CreatedAt time.Time
	CreatedBy *string
	UpdatedAt time.Time
	UpdatedBy *string
}

// RunConfig is what the robot's configuration for a run's environment adds
// to that run: its variables (decrypted) and which of them are secrets.
type RunConfig struct {
	Env     map[string]string
	Secrets map[string]bool
}

// SecretValues returns the values of the secret variables.
func (c *RunConfig) SecretValues() []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.Secrets))
	for k := range c.Secrets {
		if v, ok := c.Env[k]; ok {
			out = append(out, v)
		}
	}
	return out
}

// ErrMissingRunEnv marks the EConflict refusing a run whose version requires
// variables its robot's configuration lacks for the run's environment.
var ErrMissingRunEnv = errors.New("missing required environment variables")
