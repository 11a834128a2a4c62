package rbac_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

func ptr(s string) *string { return &s }

func principal(role hub.Role, grants ...hub.Grant) *hub.Principal {
	return &hub.Principal{Subject: "u", Role: role, Grants: grants}
}

func robotGrant(perm hub.Permission, robotID string) hub.Grant {
	return hub.Grant{Action: perm, ResourceID: ptr(robotID)}
}

func tagGrant(perm hub.Permission, tag string) hub.Grant {
	return hub.Grant{Action: perm, ScopeTag: ptr(tag)}
}

func global(perm hub.Permission) hub.Grant { return hub.Grant{Action: perm} }

func TestRolePermissions(t *testing.T) {
	tests := []struct {
		role hub.Role
		want []hub.Permission
	}{
		{hub.RoleNone, nil},
		{hub.RoleViewer, []hub.Permission{"robot.read", "run.read", "artifact.download", "service.read"}},
		{hub.RoleOperator, []hub.Permission{"robot.read", "run.read", "artifact.download", "service.read", "robot.run", "service.run", "run.cancel"}},
		{hub.RoleMaintainer, []hub.Permission{"robot.read", "run.read", "artifact.download", "service.read", "robot.run", "service.run", "run.cancel", "robot.publish"}},
		{hub.RoleAdmin, rbac.All},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, rbac.RolePermissions(tt.role)); diff != "" {
			t.Errorf("%s permissions (-want +got):\n%s", tt.role, diff)
		}
	}
	for _, p := range []hub.Permission{hub.PermServiceManage, hub.PermWorkerManage, hub.PermAdminManage} {
		if slices.Contains(rbac.RolePermissions(hub.RoleMaintainer), p) {
			t.Errorf("Maintainer has %s", p)
		}
	}
}

func TestAllowed(t *testing.T) {
	finance := &hub.RobotRef{ID: "r-fin", Tags: []string{"finance"}}
	hr := &hub.RobotRef{ID: "r-hr", Tags: []string{"hr"}}
	tests := []struct {
		name  string
		p     *hub.Principal
		perm  hub.Permission
		robot *hub.RobotRef
		want  bool
	}{
		{"nil principal", nil, hub.PermRobotRead, finance, false},
		{"viewer reads any robot", principal(hub.RoleViewer), hub.PermRobotRead, hr, true},
		{"viewer cannot run", principal(hub.RoleViewer), hub.PermRobotRun, hr, false},
		{"none role reads nothing", principal(hub.RoleNone), hub.PermRobotRead, hr, false},
		{"operator runs any robot", principal(hub.RoleOperator), hub.PermRobotRun, hr, true},
		{"operator cannot publish", principal(hub.RoleOperator), hub.PermRobotPublish, hr, false},
		{"maintainer publishes", principal(hub.RoleMaintainer), hub.PermRobotPublish, hr, true},
		{"maintainer cannot manage services", principal(hub.RoleMaintainer), hub.PermServiceManage, nil, false},
		{"admin passes everything", principal(hub.RoleAdmin), hub.PermAdminManage, nil, true},
		{"global admin.manage grant makes admin", principal(hub.RoleViewer, global(hub.PermAdminManage)), hub.PermRobotPublish, hr, true},
		{"scoped admin.manage grant is not admin", principal(hub.RoleViewer, tagGrant(hub.PermAdminManage, "finance")), hub.PermRobotPublish, hr, false},
		// Flaw 29: service.manage does not make anyone admin.
		{"service.manage grant is not admin", principal(hub.RoleViewer, global(hub.PermServiceManage)), hub.PermAdminManage, nil, false},
		{"service.manage grant manages services", principal(hub.RoleViewer, global(hub.PermServiceManage)), hub.PermServiceManage, nil, true},
		// Flaw 30: a scoped grant never confers global rights.
		{"scoped publish grant on its robot", principal(hub.RoleViewer, robotGrant(hub.PermRobotPublish, "r-fin")), hub.PermRobotPublish, finance, true},
		{"scoped publish grant on another robot", principal(hub.RoleViewer, robotGrant(hub.PermRobotPublish, "r-fin")), hub.PermRobotPublish, hr, false},
		{"scoped publish grant gives no run", principal(hub.RoleViewer, robotGrant(hub.PermRobotPublish, "r-fin")), hub.PermRobotRun, finance, false},
		{"scoped publish grant cannot create robots", principal(hub.RoleViewer, robotGrant(hub.PermRobotPublish, "r-fin")), hub.PermRobotPublish, nil, false},
		{"tag grant matches tagged robot", principal(hub.RoleViewer, tagGrant(hub.PermRobotRun, "finance")), hub.PermRobotRun, finance, true},
		{"tag grant misses other robot", principal(hub.RoleViewer, tagGrant(hub.PermRobotRun, "finance")), hub.PermRobotRun, hr, false},
		// Grants narrow what the role gives (BEHAVIOUR 1.4).
		{"scoped run.read narrows viewer", principal(hub.RoleViewer, robotGrant(hub.PermRunRead, "r-fin")), hub.PermRunRead, hr, false},
		{"scoped run.read keeps its robot", principal(hub.RoleViewer, robotGrant(hub.PermRunRead, "r-fin")), hub.PermRunRead, finance, true},
		{"scoped grant leaves other perms global", principal(hub.RoleViewer, robotGrant(hub.PermRunRead, "r-fin")), hub.PermRobotRead, hr, true},
		{"global grant beside scoped restores all", principal(hub.RoleViewer, robotGrant(hub.PermRunRead, "r-fin"), global(hub.PermRunRead)), hub.PermRunRead, hr, true},
		{"global grant gives a permission the role lacks", principal(hub.RoleViewer, global(hub.PermRobotRun)), hub.PermRobotRun, hr, true},
		{"unscoped permission ignores robot", principal(hub.RoleOperator), hub.PermServiceRun, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rbac.Allowed(tt.p, tt.perm, tt.robot); got != tt.want {
				t.Errorf("Allowed(%s) = %v, want %v", tt.perm, got, tt.want)
			}
		})
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		name string
		p    *hub.Principal
		perm hub.Permission
		want hub.RobotScope
	}{
		{"admin", principal(hub.RoleAdmin), hub.PermRunRead, hub.RobotScope{All: true}},
		{"viewer role", principal(hub.RoleViewer), hub.PermRunRead, hub.RobotScope{All: true}},
		{"viewer lacking perm", principal(hub.RoleViewer), hub.PermRobotRun, hub.RobotScope{}},
		{"none", principal(hub.RoleNone), hub.PermRunRead, hub.RobotScope{}},
		{"scoped ids and tags", principal(hub.RoleViewer, robotGrant(hub.PermRunRead, "a"), tagGrant(hub.PermRunRead, "t"), robotGrant(hub.PermRunRead, "a")),
			hub.PermRunRead, hub.RobotScope{IDs: []string{"a"}, Tags: []string{"t"}}},
		{"global grant wins", principal(hub.RoleNone, robotGrant(hub.PermRunRead, "a"), global(hub.PermRunRead)), hub.PermRunRead, hub.RobotScope{All: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, rbac.Scope(tt.p, tt.perm)); diff != "" {
				t.Errorf("Scope (-want +got):\n%s", diff)
			}
		})
	}
	if !(hub.RobotScope{}).Empty() || (hub.RobotScope{All: true}).Empty() {
		t.Error("RobotScope.Empty is wrong")
	}
}

func TestHasAndEffective(t *testing.T) {
	p := principal(hub.RoleViewer, tagGrant(hub.PermRobotRun, "finance"))
	if !rbac.Has(p, hub.PermRobotRun) {
		t.Error("Has(robot.run) = false for a tag-scoped grant, want true")
	}
	if rbac.Has(p, hub.PermRobotPublish) {
		t.Error("Has(robot.publish) = true, want false")
	}
	want := []hub.Permission{"robot.read", "robot.run", "run.read", "artifact.download", "service.read"}
	if diff := cmp.Diff(want, rbac.Effective(p)); diff != "" {
		t.Errorf("Effective (-want +got):\n%s", diff)
	}
}

func TestGrantRules(t *testing.T) {
	for _, p := range rbac.All {
		if !rbac.Known(p) || rbac.ResourceType(p) == "" {
			t.Errorf("%s has no resource type", p)
		}
	}
	if rbac.Known("robots:create") {
		t.Error("legacy action name is known")
	}
	for p, want := range map[hub.Permission]bool{"robot.run": true, "run.read": true, "artifact.download": true, "service.run": false, "admin.manage": false, "worker.manage": false} {
		if got := rbac.RobotScoped(p); got != want {
			t.Errorf("RobotScoped(%s) = %v, want %v", p, got, want)
		}
	}
}
