package hub

import "time"

// Role is a user's coarse level of access.
type Role string

// Roles, lowest to highest. RoleNone grants nothing by itself (only grants apply).
const (
	RoleNone       Role = "None"
	RoleViewer     Role = "Viewer"
	RoleOperator   Role = "Operator"
	RoleMaintainer Role = "Maintainer"
	RoleAdmin      Role = "Admin"
)

// Rank orders roles: None < Viewer < Operator < Maintainer < Admin; unknown is -1.
func (r Role) Rank() int {
	switch r {
	case RoleNone:
		return 0
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleMaintainer:
		return 3
	case RoleAdmin:
		return 4
	}
	return -1
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r.Rank() >= 0 }

// Permission names an action a principal may be allowed to do.
type Permission string

// Permissions, as in the previous backend.
const (
	PermRobotRead        Permission = "robot.read"
	PermRobotRun         Permission = "robot.run"
	PermRobotPublish     Permission = "robot.publish"
	PermRunRead          Permission = "run.read"
	PermRunCancel        Permission = "run.cancel"
	PermArtifactDownload Permission = "artifact.download"
	PermServiceRead      Permission = "service.read"
	PermServiceRun       Permission = "service.run"
	PermServiceManage    Permission = "service.manage"
	PermWorkerManage     Permission = "worker.manage"
	PermAdminManage      Permission = "admin.manage"
)

// Auth sources of users and principals.
const (
	AuthSourceLocal = "local"
	AuthSourceAzure = "azure_ad"
)

// User is an account of the hub.
type User struct {
	ID             string
	Username       string
	FullName       *string
	Email          *string
	HashedPassword string
	IsActive       bool
	IsSuperuser    bool
	Role           Role
	AuthSource     string
	AzureObjectID  *string
	// ServiceAccount marks an account for programs: it has no password and
	// authenticates only with API tokens an administrator made for it.
	ServiceAccount bool
	// TokenGeneration is carried by the user's local tokens; raising it
	// (password change, deactivation) revokes every token issued before.
	TokenGeneration int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Grant is one permission given to a user, optionally narrowed to one robot
// (ResourceID) or to the robots carrying a tag (ScopeTag).
type Grant struct {
	ID           int64
	UserID       string
	ResourceType string
	ResourceID   *string
	ScopeTag     *string
	Action       Permission
	CreatedAt    time.Time
}

// Global reports whether the grant is not narrowed to any robot.
func (g Grant) Global() bool {
	return (g.ResourceID == nil || *g.ResourceID == "") && (g.ScopeTag == nil || *g.ScopeTag == "")
}

// Principal is the authenticated caller of one request.
type Principal struct {
	// User is the hub account; nil for an Azure caller without one.
	User *User
	// Subject is the user id, or the Azure object id when there is no user.
	Subject    string
	Role       Role
	AuthSource string
	Grants     []Grant
	// ClientIP is the caller's address as the HTTP layer determined it.
	ClientIP string
	// Token is the API token the caller authenticated with (nil for a
	// sign-in token); Grants then already hold only what it may use.
	Token *APIToken
}

// UserID returns the principal's user id, or nil.
func (p *Principal) UserID() *string {
	if p == nil || p.User == nil {
		return nil
	}
	id := p.User.ID
	return &id
}

// RobotRef is what a scoped permission check needs to know about a robot.
type RobotRef struct {
	ID   string
	Tags []string
}

// RobotScope is the set of robots a principal may see for one permission.
// All means every robot; otherwise the robots with one of IDs or one of Tags.
type RobotScope struct {
	All  bool
	IDs  []string
	Tags []string
}

// Empty reports whether the scope admits no robot at all.
func (s RobotScope) Empty() bool { return !s.All && len(s.IDs) == 0 && len(s.Tags) == 0 }

// AuditEvent records who did what to which object.
type AuditEvent struct {
	ID           int64
	ActorUserID  *string
	ActorSubject *string
	Action       string
	TargetType   string
	TargetID     string
	Metadata     map[string]any
	IP           *string
	CreatedAt    time.Time
}

// AuditFilter narrows GET /audit-events. Zero fields do not filter.
type AuditFilter struct {
	Action      string
	ActorUserID string
	TargetType  string
	TargetID    string
	Since       *time.Time
	Until       *time.Time
	Page
}

// UserUpdate lists the changes of a user edit; nil fields stay as they are.
type UserUpdate struct {
	FullName       **string
	Email          **string
	Role           *Role
	IsActive       *bool
	IsSuperuser    *bool
	HashedPassword *string
	// RevokeTokens invalidates every local token issued so far.
	RevokeTokens bool
	// ExpectedHash, when set, makes the update fail (EConflict) unless the
	// stored password hash is still this one: a password change checks the
	// current password and replaces it atomically.
	ExpectedHash *string
}
