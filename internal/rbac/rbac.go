// Package rbac holds the pure access rules of the hub: which permissions each
// role has, and how a user's grants (global, one robot, or a robot tag)
// narrow them. It does no I/O; every entry point (HTTP, WebSocket, CLI)
// asks the same two questions through Allowed and Scope.
package rbac

import (
	"context"
	"slices"

	"automationhub/internal/hub"
)

// All is every permission, in a stable order.
var All = []hub.Permission{
	hub.PermRobotRead, hub.PermRobotRun, hub.PermRobotPublish,
	hub.PermRunRead, hub.PermRunCancel, hub.PermArtifactDownload,
	hub.PermServiceRead, hub.PermServiceRun, hub.PermServiceManage,
	hub.PermWorkerManage, hub.PermAdminManage,
}

var (
	viewer     = []hub.Permission{hub.PermRobotRead, hub.PermRunRead, hub.PermArtifactDownload, hub.PermServiceRead}
	operator   = append(slices.Clone(viewer), hub.PermRobotRun, hub.PermServiceRun, hub.PermRunCancel)
	maintainer = append(slices.Clone(operator), hub.PermRobotPublish)
)

// RolePermissions returns the permissions a role gives on every robot.
func RolePermissions(r hub.Role) []hub.Permission {
	switch r {
	case hub.RoleViewer:
		return viewer
	case hub.RoleOperator:
		return operator
	case hub.RoleMaintainer:
		return maintainer
	case hub.RoleAdmin:
		return All
	}
	return nil
}

// resourceTypes is the resource_type a grant of each permission must carry.
var resourceTypes = map[hub.Permission]string{
	hub.PermRobotRead: "robot", hub.PermRobotRun: "robot", hub.PermRobotPublish: "robot",
	hub.PermRunRead: "run", hub.PermRunCancel: "run", hub.PermArtifactDownload: "artifact",
	hub.PermServiceRead: "service", hub.PermServiceRun: "service", hub.PermServiceManage: "service",
	hub.PermWorkerManage: "worker", hub.PermAdminManage: "admin",
}

// Known reports whether p is a defined permission.
func Known(p hub.Permission) bool { _, ok := resourceTypes[p]; return ok }

// ResourceType returns the resource_type a grant of p must carry ("" if p is unknown).
func ResourceType(p hub.Permission) string { return resourceTypes[p] }

// RobotScoped reports whether grants of p may be narrowed to robots. Grants
// of the service, worker and admin permissions are always global.
func RobotScoped(p hub.Permission) bool {
	switch resourceTypes[p] {
	case "robot", "run", "artifact":
		return true
	}
	return false
}

// IsAdmin reports whether the principal bypasses every check: role Admin
// (superusers are Admin) or a global admin.manage grant.
func IsAdmin(p *hub.Principal) bool {
	if p == nil {
		return false
	}
	if p.Role == hub.RoleAdmin {
		return true
	}
	for _, g := range p.Grants {
		if g.Action == hub.PermAdminManage && g.Global() {
			return true
		}
	}
	return false
}

// grantsFor returns the principal's grants of one permission.
func grantsFor(p *hub.Principal, perm hub.Permission) []hub.Grant {
	var out []hub.Grant
	for _, g := range p.Grants {
		if g.Action == perm {
			out = append(out, g)
		}
	}
	return out
}

// Has reports whether the principal holds perm on at least one robot (or,
// for unscoped permissions, at all). It is the coarse check made before a
// request body is even read; Allowed makes the exact one.
func Has(p *hub.Principal, perm hub.Permission) bool {
	if p == nil {
		return false
	}
	if IsAdmin(p) {
		return true
	}
	return slices.Contains(RolePermissions(p.Role), perm) || len(grantsFor(p, perm)) > 0
}

// Allowed answers "may the principal do perm on this robot?". robot nil means
// no particular robot (creating one, or an unscoped permission): then the
// principal must hold perm globally.
//
// The rules: admins pass. Explicit grants of perm, when present, replace what
// the role gives for perm — they narrow it to the granted robots and tags
// (a global grant restores every robot). Without grants of perm, the role
// decides for every robot. A scoped grant never gives anything outside its
// scope, and grants never raise the role.
func Allowed(p *hub.Principal, perm hub.Permission, robot *hub.RobotRef) bool {
	if p == nil {
		return false
	}
	if IsAdmin(p) {
		return true
	}
	grants := grantsFor(p, perm)
	if len(grants) == 0 {
		return slices.Contains(RolePermissions(p.Role), perm)
	}
	for _, g := range grants {
		if g.Global() || !RobotScoped(perm) {
			return true
		}
		if robot == nil {
			continue
		}
		if g.ResourceID != nil && *g.ResourceID == robot.ID {
			return true
		}
		if g.ScopeTag != nil && *g.ScopeTag != "" && slices.Contains(robot.Tags, *g.ScopeTag) {
			return true
		}
	}
	return false
}

// Scope returns the robots the principal may see for perm, for filtering
// lists with the same rules as Allowed.
func Scope(p *hub.Principal, perm hub.Permission) hub.RobotScope {
	if p == nil {
		return hub.RobotScope{}
	}
	if IsAdmin(p) {
		return hub.RobotScope{All: true}
	}
	grants := grantsFor(p, perm)
	if len(grants) == 0 {
		return hub.RobotScope{All: slices.Contains(RolePermissions(p.Role), perm)}
	}
	var s hub.RobotScope
	for _, g := range grants {
		if g.Global() || !RobotScoped(perm) {
			return hub.RobotScope{All: true}
		}
		if g.ResourceID != nil && *g.ResourceID != "" && !slices.Contains(s.IDs, *g.ResourceID) {
			s.IDs = append(s.IDs, *g.ResourceID)
		}
		if g.ScopeTag != nil && *g.ScopeTag != "" && !slices.Contains(s.Tags, *g.ScopeTag) {
			s.Tags = append(s.Tags, *g.ScopeTag)
		}
	}
	return s
}

// Effective lists every permission the principal holds somewhere, sorted as All.
func Effective(p *hub.Principal) []hub.Permission {
	var out []hub.Permission
	for _, perm := range All {
		if Has(p, perm) {
			out = append(out, perm)
		}
	}
	return out
}

// ForToken returns the principal of a request made with an API token of
// p's user: p's own rights (as its user holds them now) narrowed to the
// token's permissions and robot or tag scope. The result has role None and
// only grants, so Allowed, Has and Scope apply the narrowing everywhere
// without knowing about tokens. A token never gives more than its user has:
//
//   - without a scope, each permission of the token carries what the user
//     holds of it (global, or the same robot and tag grants);
//   - scoped to a robot, each robot permission is granted on that robot if
//     the user may use it there (t.RobotTags are that robot's tags);
//   - scoped to a tag, each robot permission is granted on the tag if the
//     user holds it everywhere or through a grant of that tag;
//   - admin.manage bypasses every check, so it is dropped from a scoped token.
func ForToken(p *hub.Principal, t *hub.APIToken) *hub.Principal {
	out := *p
	out.Role, out.Grants, out.Token = hub.RoleNone, nil, t
	grant := func(perm hub.Permission, robotID, tag *string) {
		out.Grants = append(out.Grants, hub.Grant{UserID: p.Subject, ResourceType: ResourceType(perm), ResourceID: robotID, ScopeTag: tag, Action: perm})
	}
	scoped := t.RobotID != nil || t.ScopeTag != nil
	for _, perm := range t.Permissions {
		if !Known(perm) || slices.ContainsFunc(out.Grants, func(g hub.Grant) bool { return g.Action == perm }) {
			continue
		}
		switch {
		case perm == hub.PermAdminManage && scoped:
		case t.RobotID != nil && RobotScoped(perm):
			if Allowed(p, perm, &hub.RobotRef{ID: *t.RobotID, Tags: t.RobotTags}) {
				grant(perm, t.RobotID, nil)
			}
		case t.ScopeTag != nil && RobotScoped(perm):
			if s := Scope(p, perm); s.All || slices.Contains(s.Tags, *t.ScopeTag) {
				grant(perm, nil, t.ScopeTag)
			}
		case IsAdmin(p) || len(grantsFor(p, perm)) == 0:
			if slices.Contains(RolePermissions(p.Role), perm) || IsAdmin(p) {
				grant(perm, nil, nil)
			}
		default:
			for _, g := range grantsFor(p, perm) {
				grant(perm, g.ResourceID, g.ScopeTag)
			}
		}
	}
	return &out
}

// Delegable reports whether p may put perm in an API token narrowed to robot
// (when not nil) or to the robots with tag (when not empty): the token must
// not give more than p holds. admin.manage cannot be narrowed.
func Delegable(p *hub.Principal, perm hub.Permission, robot *hub.RobotRef, tag string) bool {
	if !Known(perm) {
		return false
	}
	scoped := robot != nil || tag != ""
	switch {
	case perm == hub.PermAdminManage && scoped:
		return false
	case robot != nil && RobotScoped(perm):
		return Allowed(p, perm, robot)
	case tag != "" && RobotScoped(perm):
		s := Scope(p, perm)
		return s.All || slices.Contains(s.Tags, tag)
	}
	return Has(p, perm)
}

// RobotLoader reads a robot by id (ENotFound when there is none).
type RobotLoader func(ctx context.Context, id string) (*hub.Robot, error)

// LoadRobot loads the robot id names, already checked to be a UUID, for a
// caller who needs perm on it: a caller holding perm on no robot at all is
// refused before the read, one without perm on this robot after it;
// forbidden is the refusal. The loader's errors pass through.
func LoadRobot(ctx context.Context, p *hub.Principal, id string, perm hub.Permission, load RobotLoader, forbidden error) (*hub.Robot, error) {
	if !Has(p, perm) {
		return nil, forbidden
	}
	r, err := load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !Allowed(p, perm, r.Ref()) {
		return nil, forbidden
	}
	return r, nil
}
