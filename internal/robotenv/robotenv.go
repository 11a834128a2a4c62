// Package robotenv keeps each robot's configuration per environment (PROD,
// HML, TEST): variables its runs get at start, some of them secrets. Every
// value is encrypted at rest with the hub's keyring (AES-256-GCM, the key id
// stored beside it, bound to its robot, environment and key); a secret's
// value is never returned to an API caller once written. Only the worker
// that holds a run gets that run's values, decrypted, when it starts the
// robot.
package robotenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/keyring"
	"automationhub/internal/rbac"
)

// Store is the persistence of robot configuration (sqlstore).
type Store interface {
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	EnvVars(ctx context.Context, robotID, envName string) ([]hub.EnvVar, error)
	PutEnvVars(ctx context.Context, vars []hub.EnvVar, event func(v hub.EnvVar, created bool) *hub.AuditEvent) error
	DeleteEnvVar(ctx context.Context, robotID, envName, key string, ev *hub.AuditEvent) error
	// RunEnvVars returns a run's configuration only to the worker holding
	// the run (EConflict otherwise).
	RunEnvVars(ctx context.Context, runID, workerID string) ([]hub.EnvVar, error)
	EnvKeyIDs(ctx context.Context) (map[string]int, error)
	LegacyEnvVar(ctx context.Context) (*hub.EnvVar, error)
	ResealEnvVars(ctx context.Context, reseal func(v *hub.EnvVar) (bool, error), ev *hub.AuditEvent) (changed, total int, err error)
}

// Service implements robot configuration.
type Service struct {
	store Store
	ring  *keyring.Ring
	clock hub.Clock
}

// New returns the service; ring encrypts and decrypts values.
func New(store Store, ring *keyring.Ring, clock hub.Clock) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	return &Service{store: store, ring: ring, clock: clock}
}

// Messages of the previous backend.
const (
	msgBadEnv        = "env must be one of: PROD, HML, TEST."
	msgUndecryptable = "Unable to decrypt secret value."
)

// MaxValueBytes bounds one value (the previous backend's limit).
const MaxValueBytes = 10000

// ParseEnv reads the env query parameter: trimmed, upper-cased, PROD when
// empty; anything but PROD, HML or TEST is EInvalid.
func ParseEnv(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "PROD", nil
	}
	if !slices.Contains(hub.EnvNames, s) {
		return "", hub.Errorf(hub.EInvalid, msgBadEnv)
	}
	return s, nil
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

// robotFor loads a robot and checks perm on it.
func (s *Service) robotFor(ctx context.Context, p *hub.Principal, robotID string, perm hub.Permission) (*hub.Robot, error) {
	id, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	return rbac.LoadRobot(ctx, p, id.String(), perm, s.store.RobotByID, forbidden())
}

// aad binds a sealed value to its place: a value copied into another row
// does not open there.
func aad(robotID, envName, key string) []byte {
	return []byte(robotID + "\x00" + envName + "\x00" + key)
}

// open decrypts a stored value.
func (s *Service) open(v hub.EnvVar) (string, error) {
	b, err := s.ring.Open(v.KeyID, v.Ciphertext, aad(v.RobotID, v.EnvName, v.Key))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// List returns a robot's configuration for one environment, sorted by key
// (robot.read on the robot). Values of secrets are never returned (nil).
func (s *Service) List(ctx context.Context, p *hub.Principal, robotID, envName string) ([]hub.EnvVar, error) {
	env, err := ParseEnv(envName)
	if err != nil {
		return nil, err
	}
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotRead)
	if err != nil {
		return nil, err
	}
	return s.list(ctx, r.ID, env)
}

func (s *Service) list(ctx context.Context, robotID, env string) ([]hub.EnvVar, error) {
	vars, err := s.store.EnvVars(ctx, robotID, env)
	if err != nil {
		return nil, err
	}
	for i := range vars {
		v := &vars[i]
		if !v.IsSecret {
			plain, err := s.open(*v)
			if err != nil {
				return nil, hub.Errorf(hub.EInvalid, msgUndecryptable)
			}
			v.Value = &plain
		}
		v.Ciphertext = ""
	}
	return vars, nil
}

// Item is one variable of a Put.
type Item struct {
	Key      string
	Value    *string
	IsSecret bool
}

// Put creates or replaces variables of a robot's configuration for one
// environment (robot.publish on the robot), all or none, one audit event
// each (never with the value), and returns the environment's whole list as
// List does. Errors: EInvalid for a missing value or a reserved key.
func (s *Service) Put(ctx context.Context, p *hub.Principal, robotID, envName string, items []Item) ([]hub.EnvVar, error) {
	env, err := ParseEnv(envName)
	if err != nil {
		return nil, err
	}
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	vars := make([]hub.EnvVar, 0, len(items))
	for _, it := range items {
		if err := checkKey(it.Key); err != nil {
			return nil, err
		}
		if it.Value == nil {
			return nil, hub.Errorf(hub.EInvalid, "value is required for key '%s'.", it.Key)
		}
		if len(*it.Value) > MaxValueBytes {
			return nil, hub.Errorf(hub.EUnprocessable, "value of key '%s' must be at most %d characters.", it.Key, MaxValueBytes)
		}
		if strings.ContainsRune(*it.Value, 0) {
			return nil, hub.Errorf(hub.EInvalid, "value of key '%s' must not contain NUL characters.", it.Key)
		}
		keyID, ct := s.ring.Seal([]byte(*it.Value), aad(r.ID, env, it.Key))
		vars = append(vars, hub.EnvVar{RobotID: r.ID, EnvName: env, Key: it.Key, IsSecret: it.IsSecret, KeyID: keyID, Ciphertext: ct,
			CreatedAt: now, CreatedBy: p.UserID(), UpdatedAt: now, UpdatedBy: p.UserID()})
	}
	err = s.store.PutEnvVars(ctx, vars, func(v hub.EnvVar, created bool) *hub.AuditEvent {
		action := "updated"
		if created {
			action = "created"
		}
		ev := audit.Event(p, "robot_env_var."+action, "robot_env_var", v.RobotID+":"+v.EnvName+":"+v.Key,
			map[string]any{"robot_id": v.RobotID, "env_name": v.EnvName, "key": v.Key, "action": action}, now)
		ev.Metadata["is_secret"] = v.IsSecret // a flag, not a value: kept
		return ev
	})
	if err != nil {
		return nil, err
	}
	return s.list(ctx, r.ID, env)
}

// Delete removes one variable (robot.publish on the robot); ENotFound "Env
// key not found." when there is none.
func (s *Service) Delete(ctx context.Context, p *hub.Principal, robotID, envName, key string) error {
	env, err := ParseEnv(envName)
	if err != nil {
		return err
	}
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	ev := audit.Event(p, "robot_env_var.deleted", "robot_env_var", r.ID+":"+env+":"+key,
		map[string]any{"robot_id": r.ID, "env_name": env, "key": key, "action": "deleted"}, now)
	return s.store.DeleteEnvVar(ctx, r.ID, env, key, ev)
}

// checkKey refuses names no environment variable can have, and those no
// run may set (hub.ReservedEnvKey): a configuration is set by those who
// may publish the robot, but it must not hook the loader or interpreter of
// the worker's host either.
func checkKey(key string) error {
	switch {
	case key == "" || len(key) > 150 || !hub.ValidEnvName(key):
		return hub.Errorf(hub.EUnprocessable, "key %q must match %s (at most 150 characters).", key, hub.EnvNamePattern)
	case hub.ReservedEnvKey(key):
		return hub.Errorf(hub.EInvalid, "Key %s is reserved: a robot's configuration may not set loader, interpreter or shell variables, PATH, HOME or HUB_* variables.", key)
	}
	return nil
}

// RunConfig returns the configuration of a run's robot for the run's
// environment, decrypted, to the worker that holds the run (EConflict for
// any other caller). A value that does not decrypt is an EInvalid error
// naming its key and why, never its content.
func (s *Service) RunConfig(ctx context.Context, runID, workerID string) (*hub.RunConfig, error) {
	vars, err := s.store.RunEnvVars(ctx, runID, workerID)
	if err != nil {
		return nil, err
	}
	out := &hub.RunConfig{Env: make(map[string]string, len(vars)), Secrets: map[string]bool{}}
	for _, v := range vars {
		plain, err := s.open(v)
		if err != nil {
			return nil, hub.Errorf(hub.EInvalid, "Unable to decrypt the robot's %s configuration (key %s): %v", v.EnvName, v.Key, err)
		}
		out.Env[v.Key] = plain
		if v.IsSecret {
			out.Secrets[v.Key] = true
		}
	}
	return out, nil
}

// CheckKeys makes sure the keyring opens every stored value: each value's
// key id is one of the ring's, and a value of the previous backend opens.
// The error says which setting to fix (the hub refuses to start with it).
func (s *Service) CheckKeys(ctx context.Context) error {
	ids, err := s.store.EnvKeyIDs(ctx)
	if err != nil {
		return err
	}
	for id, n := range ids {
		if id == keyring.LegacyKeyID || s.ring.Has(id) {
			continue
		}
		return fmt.Errorf("%d robot configuration values were encrypted with key %s, which is neither ENCRYPTION_KEY (key %s) nor one of ENCRYPTION_KEYS_OLD: "+
			"set the key they were encrypted with as ENCRYPTION_KEY, or add it to ENCRYPTION_KEYS_OLD and run `hub secrets rotate`", n, id, s.ring.CurrentID())
	}
	if ids[keyring.LegacyKeyID] > 0 {
		v, err := s.store.LegacyEnvVar(ctx)
		if err != nil {
			return err
		}
		if _, err := s.open(*v); err != nil {
			return fmt.Errorf("%d robot configuration values of the previous backend do not decrypt with ENCRYPTION_KEY or ENCRYPTION_KEYS_OLD: "+
				"set the previous backend's ENCRYPTION_KEY (its Fernet key)", ids[keyring.LegacyKeyID])
		}
	}
	return nil
}

// Rotate re-encrypts every stored value that another key sealed under the
// current key (ENCRYPTION_KEY), in one transaction: all values or none. The
// old keys must still be in the ring. It returns how many values changed
// and how many there are.
func (s *Service) Rotate(ctx context.Context) (changed, total int, err error) {
	ev := audit.Event(nil, "robot_env.rotated", "keyring", s.ring.CurrentID(), map[string]any{"key_id": s.ring.CurrentID()}, s.clock.Now())
	return s.store.ResealEnvVars(ctx, func(v *hub.EnvVar) (bool, error) {
		if v.KeyID == s.ring.CurrentID() {
			return false, nil
		}
		plain, err := s.open(*v)
		if err != nil {
			if errors.Is(err, keyring.ErrUnknownKey) || errors.Is(err, keyring.ErrDecrypt) {
				return false, fmt.Errorf("robot %s, %s, key %s: %w", v.RobotID, v.EnvName, v.Key, err)
			}
			return false, err
		}
		v.KeyID, v.Ciphertext = s.ring.Seal([]byte(plain), aad(v.RobotID, v.EnvName, v.Key))
		return true, nil
	}, ev)
}
