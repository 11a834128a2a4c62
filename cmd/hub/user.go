package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"automationhub/internal/hub"
	"automationhub/internal/identity"
)

const userUsage = `Usage: hub user <command> [arguments]

Manage users on the database directly, for when nobody can sign in. Settings
(DATABASE_URL, HUB_DATA_DIR, PASSWORD_HASH_COST …) are read as for every other
command. Changes are audited with the actor "cli:<os user>@<host>".

Commands:
  create USERNAME [--role ROLE] [--email EMAIL] [--full-name NAME] [PASSWORD OPTION]
  list [--json]
  set-password USER [PASSWORD OPTION]      signs the user out everywhere
  set-role USER ROLE                       ROLE: None, Viewer, Operator, Maintainer or Admin
  activate USER
  deactivate USER                          signs the user out everywhere

USER is a user name, e-mail address or user id. Passwords are never taken from
the command line. PASSWORD OPTION is one of:
  (none)                a prompt on the terminal, asked twice
  --password-stdin      read the password from the first line of standard input
  --generate-password   generate a strong password and print it once

Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 bad usage.
`

// maxPasswordInput is the most bytes read from standard input for a
// password (the policy allows 128 characters).
const maxPasswordInput = 4096

// runUser is `hub user …`.
func runUser(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprint(w, userUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	name := "hub user " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		role, email, fullName   string
		passwordStdin, generate bool
		asJSON                  bool
		wantPositional          int
		takesPassword           bool
	)
	switch sub {
	case "create":
		fs.StringVar(&role, "role", "Viewer", "")
		fs.StringVar(&email, "email", "", "")
		fs.StringVar(&fullName, "full-name", "", "")
		wantPositional, takesPassword = 1, true
	case "list":
		fs.BoolVar(&asJSON, "json", false, "")
	case "set-password":
		wantPositional, takesPassword = 1, true
	case "set-role":
		wantPositional = 2
	case "activate", "deactivate":
		wantPositional = 1
	default:
		fmt.Fprintf(stderr, "hub user: unknown command %q (see hub user --help)\n", sub)
		return exitUsage
	}
	if takesPassword {
		fs.BoolVar(&passwordStdin, "password-stdin", false, "")
		fs.BoolVar(&generate, "generate-password", false, "")
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, userUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see hub user --help)\n", name, err)
		return exitUsage
	}
	if len(pos) != wantPositional {
		fmt.Fprintf(stderr, "%s: expected %d argument(s), got %d (see hub user --help)\n", name, wantPositional, len(pos))
		return exitUsage
	}
	if passwordStdin && generate {
		fmt.Fprintf(stderr, "%s: choose one of --password-stdin and --generate-password\n", name)
		return exitUsage
	}
	env, ok := loadCommandEnv(name, environ, stderr)
	if !ok {
		return exitUsage
	}
	var newRole hub.Role
	if sub == "create" || sub == "set-role" {
		r := role
		if sub == "set-role" {
			r = pos[1]
		}
		if newRole, ok = parseRole(r); !ok {
			fmt.Fprintf(stderr, "%s: unknown role %q: use None, Viewer, Operator, Maintainer or Admin\n", name, r)
			return exitUsage
		}
	}
	db, err := env.openDatabase(ctx)
	if err != nil {
		return env.failf("%v", err)
	}
	defer db.Close()
	ids := identity.New(db, identityConfig(env.cfg, "", newLogger(env.cfg, stderr)))
	p := identity.CommandLine(operator())
	fail := func(err error) int {
		if hub.ErrorKind(err) == hub.EInternal {
			return env.failf("%v", err)
		}
		return env.failf("%s", hub.ErrorMessage(err))
	}

	if sub == "list" {
		return listUsers(ctx, env, ids, p, asJSON, stdout)
	}
	// The password is asked for once the database answers (and the user
	// exists), so that nobody types one for nothing.
	var password string
	readPassword := func(who string) int {
		var code int
		password, code = readNewPassword(env, stdin, stderr, passwordStdin, generate, who)
		return code
	}
	if sub == "create" {
		if code := readPassword(pos[0]); code != exitOK {
			return code
		}
		in := identity.NewUser{Username: pos[0], Password: password, Role: newRole}
		if email != "" {
			in.Email = &email
		}
		if fullName != "" {
			in.FullName = &fullName
		}
		u, err := ids.CreateUser(ctx, p, in)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "created user %q (%s, id %s)\n", u.Username, u.Role, u.ID)
		if generate {
			fmt.Fprintf(stdout, "password: %s\n(shown only this once)\n", password)
		}
		return exitOK
	}

	u, err := ids.FindUser(ctx, p, pos[0])
	if err != nil {
		if hub.ErrorKind(err) == hub.ENotFound {
			return env.failf("no user %q (give a user name, e-mail address or user id; `hub user list` shows them)", pos[0])
		}
		return fail(err)
	}
	if takesPassword {
		if code := readPassword(u.Username); code != exitOK {
			return code
		}
	}
	var ch identity.UserChanges
	var done string
	switch sub {
	case "set-password":
		ch.Password = &password
		done = fmt.Sprintf("password of %q changed; the user's sessions and tokens are signed out", u.Username)
	case "set-role":
		ch.Role = &newRole
		done = fmt.Sprintf("%q is now %s", u.Username, newRole)
		// A superuser is an administrator whatever its role: a lower role
		// takes the superuser flag away, so that the user gets what was asked.
		if u.IsSuperuser && newRole != hub.RoleAdmin {
			no := false
			ch.IsSuperuser = &no
			done += " (no longer a superuser)"
		}
	case "activate":
		yes := true
		ch.IsActive = &yes
		done = fmt.Sprintf("%q is active and may sign in", u.Username)
	case "deactivate":
		no := false
		ch.IsActive = &no
		done = fmt.Sprintf("%q is deactivated; the user's sessions and tokens are signed out", u.Username)
	}
	if _, err := ids.UpdateUser(ctx, p, u.ID, ch); err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, done)
	if generate {
		fmt.Fprintf(stdout, "password: %s\n(shown only this once)\n", password)
	}
	return exitOK
}

// parseRole accepts a role name in any case.
func parseRole(s string) (hub.Role, bool) {
	for _, r := range []hub.Role{hub.RoleNone, hub.RoleViewer, hub.RoleOperator, hub.RoleMaintainer, hub.RoleAdmin} {
		if strings.EqualFold(s, string(r)) {
			return r, true
		}
	}
	return "", false
}

// readNewPassword gets the password for create and set-password: from the
// first line of standard input, generated, or typed twice at a terminal
// prompt. It checks the password policy before anything is changed.
func readNewPassword(env commandEnv, stdin io.Reader, stderr io.Writer, fromStdin, generate bool, who string) (string, int) {
	var pw string
	switch {
	case generate:
		return identity.GeneratePassword(), exitOK
	case fromStdin:
		line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordInput)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", env.failf("read the password from standard input: %v", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			fmt.Fprintf(stderr, "%s: no password on standard input\n", env.name)
			return "", exitUsage
		}
	default:
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(stderr, "%s: no terminal to ask for the password: use --password-stdin or --generate-password\n", env.name)
			return "", exitUsage
		}
		fmt.Fprintf(stderr, "New password for %s: ", who)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", env.failf("read the password: %v", err)
		}
		fmt.Fprint(stderr, "Repeat it: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", env.failf("read the password: %v", err)
		}
		if string(first) != string(second) {
			return "", env.failf("the two passwords differ; nothing changed")
		}
		pw = string(first)
	}
	if err := identity.CheckPasswordPolicy(pw); err != nil {
		return "", env.failf("%s", hub.ErrorMessage(err))
	}
	return pw, exitOK
}

// operator names who runs the command, for the audit trail: the OS user and
// the host.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return name + "@" + host
}

// userListItem is one user in `hub user list --json`.
type userListItem struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Email       *string   `json:"email"`
	FullName    *string   `json:"full_name"`
	Role        string    `json:"role"`
	IsActive    bool      `json:"is_active"`
	IsSuperuser bool      `json:"is_superuser"`
	AuthSource  string    `json:"auth_source"`
	CreatedAt   time.Time `json:"created_at"`
}

// listUsers prints every user, newest first, as a table or JSON.
func listUsers(ctx context.Context, env commandEnv, ids *identity.Service, p *hub.Principal, asJSON bool, stdout io.Writer) int {
	const pageSize = 500
	var all []hub.User
	for page := 0; ; page++ {
		users, total, err := ids.ListUsers(ctx, p, hub.Page{Skip: page * pageSize, Limit: pageSize})
		if err != nil {
			return env.failf("%v", err)
		}
		all = append(all, users...)
		if len(users) < pageSize || len(all) >= total {
			break
		}
	}
	if asJSON {
		items := make([]userListItem, 0, len(all))
		for _, u := range all {
			items = append(items, userListItem{ID: u.ID, Username: u.Username, Email: u.Email, FullName: u.FullName, Role: string(u.Role),
				IsActive: u.IsActive, IsSuperuser: u.IsSuperuser, AuthSource: u.AuthSource, CreatedAt: u.CreatedAt})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(items); err != nil {
			return env.failf("%v", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tROLE\tACTIVE\tSIGN-IN\tEMAIL\tCREATED\tID")
	for _, u := range all {
		role := string(u.Role)
		if u.IsSuperuser {
			role += " (superuser)"
		}
		active := "yes"
		if !u.IsActive {
			active = "no"
		}
		email := "-"
		if u.Email != nil {
			email = *u.Email
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, role, active, u.AuthSource, email, u.CreatedAt.Format("2006-01-02 15:04"), u.ID)
	}
	if err := tw.Flush(); err != nil {
		return env.failf("%v", err)
	}
	return exitOK
}
