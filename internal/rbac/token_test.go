package rbac_test

import (
	"testing"

	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

// TestForTokenNeverGivesMoreThanItsUser checks every (user, token, permission,
// robot) combination: the token's principal is allowed only what the user is
// allowed and the token lists, within the token's scope.
func TestForTokenNeverGivesMoreThanItsUser(t *testing.T) {
	t.Parallel()
	fin := &hub.RobotRef{ID: "r-fin", Tags: []string{"finance"}}
	fin2 := &hub.RobotRef{ID: "r-fin2", Tags: []string{"finance", "eu"}}
	hr := &hub.RobotRef{ID: "r-hr", Tags: []string{"hr"}}
	robots := []*hub.RobotRef{fin, fin2, hr, nil}
	users := map[string]*hub.Principal{
		"admin":      principal(hub.RoleAdmin),
		"maintainer": principal(hub.RoleMaintainer),
		"viewer":     principal(hub.RoleViewer),
		"scoped":     principal(hub.RoleNone, robotGrant(hub.PermRobotRun, "r-fin"), tagGrant(hub.PermRunRead, "finance"), global(hub.PermServiceRead)),
		"adminGrant": principal(hub.RoleViewer, global(hub.PermAdminManage)),
	}
	tokens := map[string]*hub.APIToken{
		"publish":     {Permissions: []hub.Permission{hub.PermRobotPublish}},
		"run+read":    {Permissions: []hub.Permission{hub.PermRobotRun, hub.PermRunRead, hub.PermServiceRead}},
		"fin robot":   {Permissions: []hub.Permission{hub.PermRobotRun, hub.PermRunRead, hub.PermRobotPublish, hub.PermAdminManage}, RobotID: ptr("r-fin"), RobotTags: []string{"finance"}},
		"finance tag": {Permissions: []hub.Permission{hub.PermRobotRun, hub.PermRunRead, hub.PermAdminManage}, ScopeTag: ptr("finance")},
		"admin":       {Permissions: []hub.Permission{hub.PermAdminManage}},
		"unknown":     {Permissions: []hub.Permission{"robot.delete"}},
	}
	inScope := func(tok *hub.APIToken, r *hub.RobotRef) bool {
		switch {
		case tok.RobotID != nil:
			return r != nil && r.ID == *tok.RobotID
		case tok.ScopeTag != nil:
			return r != nil && containsStr(r.Tags, *tok.ScopeTag)
		}
		return true
	}
	for uname, u := range users {
		for tname, tok := range tokens {
			tp := rbac.ForToken(u, tok)
			if tp.Role != hub.RoleNone || tp.Token != tok {
				t.Errorf("%s/%s: role %s, token %v", uname, tname, tp.Role, tp.Token)
			}
			adminToken := rbac.IsAdmin(tp)
			if adminToken && (!rbac.IsAdmin(u) || tname != "admin") {
				t.Errorf("%s/%s: token principal is an administrator", uname, tname)
			}
			for _, perm := range rbac.All {
				listed := containsPerm(tok.Permissions, perm)
				for _, r := range robots {
					got := rbac.Allowed(tp, perm, r)
					scopeOK := inScope(tok, r) || !rbac.RobotScoped(perm)
					max := rbac.Allowed(u, perm, r) && (listed || adminToken) && (scopeOK || adminToken)
					if got && !max {
						t.Errorf("%s/%s: %s on %v allowed, but the user or the token does not allow it", uname, tname, perm, r)
					}
				}
			}
		}
	}
	// What a token keeps, exactly.
	tests := []struct {
		name  string
		user  *hub.Principal
		tok   *hub.APIToken
		perm  hub.Permission
		robot *hub.RobotRef
		want  bool
	}{
		{"maintainer publish token publishes anywhere", users["maintainer"], tokens["publish"], hub.PermRobotPublish, hr, true},
		{"publish token cannot run", users["maintainer"], tokens["publish"], hub.PermRobotRun, hr, false},
		{"publish token cannot read", users["maintainer"], tokens["publish"], hub.PermRobotRead, hr, false},
		{"viewer's publish token publishes nothing", users["viewer"], tokens["publish"], hub.PermRobotPublish, fin, false},
		{"robot token on its robot", users["maintainer"], tokens["fin robot"], hub.PermRobotPublish, fin, true},
		{"robot token off its robot", users["maintainer"], tokens["fin robot"], hub.PermRobotPublish, fin2, false},
		{"robot token: scoped admin.manage dropped", users["admin"], tokens["fin robot"], hub.PermAdminManage, nil, false},
		{"robot token of a scoped user", users["scoped"], tokens["fin robot"], hub.PermRobotRun, fin, true},
		{"robot token: run.read through the user's tag", users["scoped"], tokens["fin robot"], hub.PermRunRead, fin, true},
		{"tag token on a tagged robot", users["maintainer"], tokens["finance tag"], hub.PermRobotRun, fin2, true},
		{"tag token elsewhere", users["maintainer"], tokens["finance tag"], hub.PermRobotRun, hr, false},
		{"tag token: user has only a robot grant", users["scoped"], tokens["finance tag"], hub.PermRobotRun, fin, false},
		{"tag token: user has the tag grant", users["scoped"], tokens["finance tag"], hub.PermRunRead, fin2, true},
		{"unscoped token copies scoped grants", users["scoped"], tokens["run+read"], hub.PermRobotRun, fin, true},
		{"unscoped token copies scoped grants only", users["scoped"], tokens["run+read"], hub.PermRobotRun, fin2, false},
		{"unscoped token keeps service.read", users["scoped"], tokens["run+read"], hub.PermServiceRead, nil, true},
		{"admin token is an administrator", users["admin"], tokens["admin"], hub.PermWorkerManage, nil, true},
		{"admin.manage grant token is an administrator", users["adminGrant"], tokens["admin"], hub.PermRobotPublish, hr, true},
		{"maintainer cannot make an admin token", users["maintainer"], tokens["admin"], hub.PermAdminManage, nil, false},
		{"unknown permissions give nothing", users["admin"], tokens["unknown"], hub.PermRobotRead, fin, false},
	}
	for _, tt := range tests {
		if got := rbac.Allowed(rbac.ForToken(tt.user, tt.tok), tt.perm, tt.robot); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDelegable(t *testing.T) {
	t.Parallel()
	fin := &hub.RobotRef{ID: "r-fin", Tags: []string{"finance"}}
	scoped := principal(hub.RoleNone, robotGrant(hub.PermRobotRun, "r-fin"), tagGrant(hub.PermRunRead, "finance"))
	tests := []struct {
		name  string
		p     *hub.Principal
		perm  hub.Permission
		robot *hub.RobotRef
		tag   string
		want  bool
	}{
		{"maintainer publish", principal(hub.RoleMaintainer), hub.PermRobotPublish, nil, "", true},
		{"maintainer publish on a robot", principal(hub.RoleMaintainer), hub.PermRobotPublish, fin, "", true},
		{"operator publish", principal(hub.RoleOperator), hub.PermRobotPublish, nil, "", false},
		{"maintainer admin", principal(hub.RoleMaintainer), hub.PermAdminManage, nil, "", false},
		{"admin admin", principal(hub.RoleAdmin), hub.PermAdminManage, nil, "", true},
		{"admin admin scoped", principal(hub.RoleAdmin), hub.PermAdminManage, fin, "", false},
		{"admin admin tagged", principal(hub.RoleAdmin), hub.PermAdminManage, nil, "finance", false},
		{"scoped run on its robot", scoped, hub.PermRobotRun, fin, "", true},
		{"scoped run on another robot", scoped, hub.PermRobotRun, &hub.RobotRef{ID: "x"}, "", false},
		{"scoped run unscoped", scoped, hub.PermRobotRun, nil, "", true},
		{"scoped run on its tag (only a robot grant)", scoped, hub.PermRobotRun, nil, "finance", false},
		{"scoped read on its tag", scoped, hub.PermRunRead, nil, "finance", true},
		{"unknown", principal(hub.RoleAdmin), "robot.delete", nil, "", false},
	}
	for _, tt := range tests {
		if got := rbac.Delegable(tt.p, tt.perm, tt.robot, tt.tag); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsPerm(list []hub.Permission, p hub.Permission) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}
