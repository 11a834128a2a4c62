// Package pools manages resource pools — named numbers of slots that the
// runs of the robots needing a pool share fleet-wide (licences of a
// desktop application, sessions of a bank portal) — and each robot's run
// settings: its concurrency limit, the pools it needs and its retry
// defaults. The limits are enforced where runs start (the store's claim);
// this package checks and stores them, and signals the runs a raised limit
// may let start.
package pools

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is the persistence pools and run settings need.
type Store interface {
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	CreatePool(ctx context.Context, p *hub.Pool, ev *hub.AuditEvent) error
	PoolByID(ctx context.Context, id string) (*hub.Pool, error)
	ListPools(ctx context.Context) ([]hub.Pool, error)
	UpdatePool(ctx context.Context, p *hub.Pool, ev *hub.AuditEvent) error
	DeletePool(ctx context.Context, id string, ev *hub.AuditEvent) error
	SetRunSettings(ctx context.Context, robotID string, set hub.RunSettings, pools []string, now time.Time, ev *hub.AuditEvent) (*hub.Robot, error)
	WaitingForRobot(ctx context.Context, robotID string, now time.Time, limit int) ([]string, error)
	WaitingForPool(ctx context.Context, poolID string, now time.Time, limit int) ([]string, error)
}

// Signals sends ready signals.
type Signals interface {
	Enqueue(ctx context.Context, runID string) error
}

// Service manages pools (admin.manage to change them, robot.read to see
// them) and robot run settings (robot.publish on the robot).
type Service struct {
	store Store
	bus   Signals
	clock hub.Clock
}

// New returns the pools service.
func New(store Store, signals Signals, clock hub.Clock) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	return &Service{store: store, bus: signals, clock: clock}
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

// nameRule is what a pool name may be: it appears in waiting reasons and
// URLs.
var nameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// MaxCapacity bounds a pool's capacity.
const MaxCapacity = 10000

// Input is a pool's fields as a caller gives them; nil keeps the stored
// value in a change.
type Input struct {
	Name        *string
	Capacity    *int
	Description *string
	// ClearDescription sets the description to null.
	ClearDescription bool
}

func check(p *hub.Pool) error {
	if !nameRule.MatchString(p.Name) {
		return hub.Errorf(hub.EUnprocessable, "name must be 1 to 100 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.")
	}
	if p.Capacity < 1 || p.Capacity > MaxCapacity {
		return hub.Errorf(hub.EUnprocessable, "capacity must be between 1 and %d.", MaxCapacity)
	}
	return nil
}

// Create adds a pool (admin.manage).
func (s *Service) Create(ctx context.Context, p *hub.Principal, in Input) (*hub.Pool, error) {
	if !rbac.Allowed(p, hub.PermAdminManage, nil) {
		return nil, forbidden()
	}
	now := s.clock.Now()
	pool := &hub.Pool{ID: uuid.NewString(), Description: in.Description, CreatedBy: p.UserID(), CreatedAt: now, UpdatedAt: now, Robots: []string{}}
	if in.Name != nil {
		pool.Name = strings.TrimSpace(*in.Name)
	}
	if in.Capacity != nil {
		pool.Capacity = *in.Capacity
	}
	if err := check(pool); err != nil {
		return nil, err
	}
	ev := audit.Event(p, "pool.created", "pool", pool.ID, map[string]any{"pool_id": pool.ID, "name": pool.Name, "capacity": pool.Capacity}, now)
	if err := s.store.CreatePool(ctx, pool, ev); err != nil {
		return nil, err
	}
	return pool, nil
}

func poolID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", hub.Errorf(hub.ENotFound, "Pool not found.")
	}
	return u.String(), nil
}

// List returns every pool with its usage (robot.read: whoever configures
// robots sees which pools exist).
func (s *Service) List(ctx context.Context, p *hub.Principal) ([]hub.Pool, error) {
	if !rbac.Has(p, hub.PermRobotRead) {
		return nil, forbidden()
	}
	return s.store.ListPools(ctx)
}

// Get returns one pool (robot.read).
func (s *Service) Get(ctx context.Context, p *hub.Principal, id string) (*hub.Pool, error) {
	if !rbac.Has(p, hub.PermRobotRead) {
		return nil, forbidden()
	}
	pid, err := poolID(id)
	if err != nil {
		return nil, err
	}
	return s.store.PoolByID(ctx, pid)
}

// Update changes a pool (admin.manage). A larger capacity signals the runs
// waiting for the pool.
func (s *Service) Update(ctx context.Context, p *hub.Principal, id string, in Input) (*hub.Pool, error) {
	if !rbac.Allowed(p, hub.PermAdminManage, nil) {
		return nil, forbidden()
	}
	pid, err := poolID(id)
	if err != nil {
		return nil, err
	}
	pool, err := s.store.PoolByID(ctx, pid)
	if err != nil {
		return nil, err
	}
	before := pool.Capacity
	if in.Name != nil {
		pool.Name = strings.TrimSpace(*in.Name)
	}
	if in.Capacity != nil {
		pool.Capacity = *in.Capacity
	}
	if in.Description != nil || in.ClearDescription {
		pool.Description = in.Description
	}
	if err := check(pool); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	pool.UpdatedAt = now
	ev := audit.Event(p, "pool.updated", "pool", pool.ID, map[string]any{"pool_id": pool.ID, "name": pool.Name, "capacity": pool.Capacity}, now)
	if err := s.store.UpdatePool(ctx, pool, ev); err != nil {
		return nil, err
	}
	if pool.Capacity > before {
		s.signal(ctx, s.store.WaitingForPool, pool.ID, pool.Capacity-before)
	}
	return pool, nil
}

// Delete removes a pool no robot needs (admin.manage).
func (s *Service) Delete(ctx context.Context, p *hub.Principal, id string) error {
	if !rbac.Allowed(p, hub.PermAdminManage, nil) {
		return forbidden()
	}
	pid, err := poolID(id)
	if err != nil {
		return err
	}
	ev := audit.Event(p, "pool.deleted", "pool", pid, map[string]any{"pool_id": pid}, s.clock.Now())
	return s.store.DeletePool(ctx, pid, ev)
}

func (s *Service) signal(ctx context.Context, list func(context.Context, string, time.Time, int) ([]string, error), id string, n int) {
	ids, err := list(ctx, id, s.clock.Now(), min(max(n, 1)+3, 100))
	if err != nil {
		return // best effort: the reconciler signals waiting runs again
	}
	for _, rid := range ids {
		_ = s.bus.Enqueue(ctx, rid)
	}
}

// SettingsInput changes a robot's run settings; nil keeps a value,
// ClearMaxConcurrent removes the limit.
type SettingsInput struct {
	MaxConcurrentRuns   *int
	ClearMaxConcurrent  bool
	RetryCount          *int
	RetryBackoffSeconds *int
	// Pools, when not nil, replaces the pools the robot needs (names).
	Pools []string
	// RequiredLabels, when not nil, replaces the labels a worker needs to
	// claim the robot's runs.
	RequiredLabels []string
}

// Empty reports whether the input changes nothing.
func (in SettingsInput) Empty() bool {
	return in.MaxConcurrentRuns == nil && !in.ClearMaxConcurrent && in.RetryCount == nil && in.RetryBackoffSeconds == nil && in.Pools == nil &&
		in.RequiredLabels == nil
}

// SetRunSettings changes a robot's run settings (robot.publish on it). A
// raised limit signals the robot's waiting runs.
func (s *Service) SetRunSettings(ctx context.Context, p *hub.Principal, robotID string, in SettingsInput) (*hub.Robot, error) {
	id, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	if !rbac.Has(p, hub.PermRobotPublish) {
		return nil, forbidden()
	}
	r, err := s.store.RobotByID(ctx, id.String())
	if err != nil {
		return nil, err
	}
	if !rbac.Allowed(p, hub.PermRobotPublish, r.Ref()) {
		return nil, forbidden()
	}
	set := r.Settings
	if in.MaxConcurrentRuns != nil {
		set.MaxConcurrentRuns = in.MaxConcurrentRuns
	}
	if in.ClearMaxConcurrent {
		set.MaxConcurrentRuns = nil
	}
	if in.RetryCount != nil {
		set.RetryCount = *in.RetryCount
	}
	if in.RetryBackoffSeconds != nil {
		set.RetryBackoffSeconds = *in.RetryBackoffSeconds
	}
	switch {
	case set.MaxConcurrentRuns != nil && (*set.MaxConcurrentRuns < 1 || *set.MaxConcurrentRuns > 1000):
		return nil, hub.Errorf(hub.EUnprocessable, "max_concurrent_runs must be between 1 and 1000, or null for no limit.")
	case set.RetryCount < 0 || set.RetryCount > hub.MaxRetryCount:
		return nil, hub.Errorf(hub.EUnprocessable, "retry_count must be between 0 and %d.", hub.MaxRetryCount)
	case set.RetryBackoffSeconds < 1 || set.RetryBackoffSeconds > hub.MaxRetryBackoffSeconds:
		return nil, hub.Errorf(hub.EUnprocessable, "retry_backoff_seconds must be between 1 and %d.", hub.MaxRetryBackoffSeconds)
	}
	if in.RequiredLabels != nil {
		labels, err := hub.NormalizeLabels("required_labels", in.RequiredLabels)
		if err != nil {
			return nil, err
		}
		set.RequiredLabels = labels
	}
	var names []string
	if in.Pools != nil {
		names = []string{}
		for _, n := range in.Pools {
			n = strings.TrimSpace(n)
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
	}
	now := s.clock.Now()
	meta := map[string]any{"robot_id": r.ID, "max_concurrent_runs": set.MaxConcurrentRuns, "retry_count": set.RetryCount,
		"retry_backoff_seconds": set.RetryBackoffSeconds}
	if names != nil {
		meta["resource_pools"] = names
	}
	if in.RequiredLabels != nil {
		meta["required_labels"] = set.RequiredLabels
	}
	ev := audit.Event(p, "robot.updated", "robot", r.ID, meta, now)
	out, err := s.store.SetRunSettings(ctx, r.ID, set, names, now, ev)
	if err != nil {
		return nil, err
	}
	if raised(r.Settings.MaxConcurrentRuns, out.Settings.MaxConcurrentRuns) || in.Pools != nil || in.RequiredLabels != nil {
		s.signal(ctx, s.store.WaitingForRobot, r.ID, 4)
	}
	return out, nil
}

func raised(before, after *int) bool {
	switch {
	case after == nil:
		return before != nil
	case before == nil:
		return false
	}
	return *after > *before
}
