package registry_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/archive"
	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/registry"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

type bundle struct {
	db    *sqlstore.DB
	svc   *registry.Service
	root  string
	admin *hub.Principal
	ids   *identity.Service
}

func setup(t testing.TB, dialect string) bundle {
	t.Helper()
	db := hubtest.Store(t, dialect)
	root := t.TempDir()
	blobs, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	svc := registry.New(db, blobs, registry.Config{MaxArtifactBytes: 64 << 20, Limits: archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 32 << 20}})
	ids := identity.New(db, identity.Config{SecretKey: strings.Repeat("k", 40), AllowLocal: true, BcryptCost: bcrypt.MinCost})
	ctx := context.Background()
	if _, err := ids.Bootstrap(ctx, "admin", "admin-password", ""); err != nil {
		t.Fatal(err)
	}
	tok, _ := ids.Login(ctx, "admin", "admin-password", "")
	admin, err := ids.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	return bundle{db: db, svc: svc, root: root, admin: admin, ids: ids}
}

// principal creates a user with a role and grants and returns its principal.
func (b bundle) principal(t *testing.T, role hub.Role, grants ...identity.NewGrant) *hub.Principal {
	t.Helper()
	ctx := context.Background()
	name := "u" + uuid.NewString()[:8]
	u, err := b.ids.CreateUser(ctx, b.admin, identity.NewUser{Username: name, Password: "password-x", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if _, err := b.ids.Grant(ctx, b.admin, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	tok, _ := b.ids.Login(ctx, name, "password-x", "")
	p, err := b.ids.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var mainZip = map[string]string{"main.py": "print('hello from the robot')\n"}

func (b bundle) createRobot(t *testing.T, name string, tags ...string) *registry.RobotView {
	t.Helper()
	v, err := b.svc.CreateRobot(context.Background(), b.admin, registry.NewRobot{Name: name, Tags: tags,
		InitialVersion: registry.NewVersion{Version: "1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b bundle) publish(p *hub.Principal, robotID string, in registry.PublishInput, content []byte) (*hub.Version, error) {
	up, err := b.svc.NewUpload()
	if err != nil {
		return nil, err
	}
	if _, err := up.Write(content); err != nil {
		up.Abort()
		return nil, err
	}
	if in.Channel == "" {
		in.Channel = "stable"
	}
	if in.FileName == "" {
		in.FileName = "artifact.zip"
	}
	return b.svc.Publish(context.Background(), p, robotID, in, up)
}

// files lists every file under the artifact root except the temp folder.
func (b bundle) files(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(b.root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func wantKind(t *testing.T, err error, kind string) {
	t.Helper()
	if got := hub.ErrorKind(err); got != kind {
		t.Fatalf("error = %v (kind %q), want kind %q", err, got, kind)
	}
}

func TestCreateRobot(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			ctx := context.Background()
			v, err := b.svc.CreateRobot(ctx, b.admin, registry.NewRobot{Name: "invoice-bot", Tags: []string{" finance", "ops", "finance", ""},
				InitialVersion: registry.NewVersion{Version: "1.0.0", Channel: "beta", Arguments: []string{"--x"}, EnvVars: map[string]string{"REGION": "br"}}})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(v.Robot.Tags, ",") != "finance,ops" || len(v.Versions) != 1 || !v.Versions[0].IsActive || v.Versions[0].ArtifactPath != nil {
				t.Errorf("created = %+v", v)
			}
			tags, _ := b.db.ReleaseTags(ctx, v.Robot.ID)
			if tags["latest"] != v.Versions[0].ID || tags["stable"] != v.Versions[0].ID {
				t.Errorf("release tags = %v, want latest and stable on the initial version", tags)
			}
			cases := []struct {
				name string
				in   registry.NewRobot
				kind string
			}{
				{"duplicate name", registry.NewRobot{Name: "invoice-bot", InitialVersion: registry.NewVersion{Version: "1.0.0"}}, hub.EConflict},
				{"short name", registry.NewRobot{Name: "ab", InitialVersion: registry.NewVersion{Version: "1.0.0"}}, hub.EUnprocessable},
				{"bad semver", registry.NewRobot{Name: "r-semver", InitialVersion: registry.NewVersion{Version: "1.0"}}, hub.EInvalid},
				{"leading zero", registry.NewRobot{Name: "r-zero", InitialVersion: registry.NewVersion{Version: "01.0.0"}}, hub.EInvalid},
				{"semver with newline", registry.NewRobot{Name: "r-nl", InitialVersion: registry.NewVersion{Version: "1.0.0\n"}}, hub.EInvalid},
				{"bad channel", registry.NewRobot{Name: "r-chan", InitialVersion: registry.NewVersion{Version: "1.0.0", Channel: "nightly"}}, hub.EInvalid},
				{"absolute artifact path", registry.NewRobot{Name: "r-path", InitialVersion: registry.NewVersion{Version: "1.0.0", ArtifactPath: ptr("/usr/bin/rm")}}, hub.EInvalid},
				{"escaping entry point", registry.NewRobot{Name: "r-entry", InitialVersion: registry.NewVersion{Version: "1.0.0", EntrypointPath: "../../bin/sh"}}, hub.EInvalid},
				{"absolute working dir", registry.NewRobot{Name: "r-wd", InitialVersion: registry.NewVersion{Version: "1.0.0", WorkingDirectory: ptr("C:\\Windows")}}, hub.EInvalid},
				{"bad env name", registry.NewRobot{Name: "r-env", InitialVersion: registry.NewVersion{Version: "1.0.0", EnvVars: map[string]string{"A=B": "x"}}}, hub.EInvalid},
				{"long tag", registry.NewRobot{Name: "r-tag", Tags: []string{strings.Repeat("t", 101)}, InitialVersion: registry.NewVersion{Version: "1.0.0"}}, hub.EUnprocessable},
			}
			for _, c := range cases {
				_, err := b.svc.CreateRobot(ctx, b.admin, c.in)
				if hub.ErrorKind(err) != c.kind {
					t.Errorf("%s: %v, want kind %s", c.name, err, c.kind)
				}
			}
			list, total, err := b.svc.ListRobots(ctx, b.admin, registry.ListInput{Page: hub.Page{Limit: 50}, IncludeVersions: true})
			if err != nil || total != 1 || len(list) != 1 {
				t.Errorf("after failed creates: %d robots, %v; want 1", total, err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestPublishActivateRollback is the previous backend's registry test (T4)
// plus the file-level guarantees.
func TestPublishActivateRollback(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			ctx := context.Background()
			robot := b.createRobot(t, "robot-registry-test", "qa")
			first := robot.Versions[0]
			pkg := zipOf(t, mainZip)

			v, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.1.0", Changelog: "new release", EntrypointPath: "main.py", EntrypointType: "PYTHON"}, pkg)
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != "1.1.0" || v.ArtifactType != "ZIP" || !v.IsActive || *v.ArtifactSHA256 != sha(pkg) || *v.Checksum != sha(pkg) || *v.ArtifactSize != int64(len(pkg)) {
				t.Errorf("published = %+v", v)
			}
			key := "robots/" + robot.Robot.ID + "/1.1.0/artifact.zip"
			if *v.ArtifactPath != key {
				t.Errorf("artifact_path = %s, want %s", *v.ArtifactPath, key)
			}
			stored, err := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(key)))
			if err != nil || !bytes.Equal(stored, pkg) {
				t.Fatalf("stored file differs from the upload: %v", err)
			}

			// Same version again: 400, and the first file is byte-identical.
			other := zipOf(t, map[string]string{"main.py": "print('evil twin')\n"})
			_, err = b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.1.0"}, other)
			wantKind(t, err, hub.EInvalid)
			if hub.ErrorMessage(err) != "Version already exists for this robot." {
				t.Errorf("message = %q", hub.ErrorMessage(err))
			}
			if again, _ := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(key))); !bytes.Equal(again, pkg) {
				t.Fatal("a duplicate publish changed the existing version's file")
			}
			if got := b.files(t); len(got) != 1 {
				t.Errorf("files in the store = %v, want only the first package", got)
			}

			versions, err := b.svc.Versions(ctx, b.admin, robot.Robot.ID)
			if err != nil || len(versions) != 2 || versions[0].Version != "1.1.0" {
				t.Fatalf("versions = %+v, %v", versions, err)
			}

			// The initial 0.1.0 has no package: activating it is refused and
			// changes nothing.
			_, err = b.svc.Activate(ctx, b.admin, robot.Robot.ID, first.ID)
			wantKind(t, err, hub.EConflict)
			if want := "Version " + first.Version + " has no package; publish one before activating it."; hub.ErrorMessage(err) != want {
				t.Errorf("message = %q, want %q", hub.ErrorMessage(err), want)
			}
			assertOneActive(t, b, robot.Robot.ID, v.ID)

			// Publish 1.2.0, then roll back to 1.1.0.
			v12, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.2.0"}, pkg)
			if err != nil || !v12.IsActive {
				t.Fatalf("publish 1.2.0 = %+v, %v", v12, err)
			}
			act, err := b.svc.Activate(ctx, b.admin, robot.Robot.ID, v.ID)
			if err != nil || act.ID != v.ID || !act.IsActive {
				t.Fatalf("activate = %+v, %v", act, err)
			}
			assertOneActive(t, b, robot.Robot.ID, v.ID)
			tags, _ := b.db.ReleaseTags(ctx, robot.Robot.ID)
			if tags["latest"] != v.ID || tags["stable"] != v.ID {
				t.Errorf("release tags after rollback = %v", tags)
			}

			// A beta published without activation changes nothing active.
			no := false
			beta, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "2.0.0-rc.1", Channel: "beta", Activate: &no}, pkg)
			if err != nil || beta.IsActive {
				t.Fatalf("inactive publish = %+v, %v", beta, err)
			}
			assertOneActive(t, b, robot.Robot.ID, v.ID)
			// Activating the beta moves latest but not stable.
			if _, err := b.svc.Activate(ctx, b.admin, robot.Robot.ID, beta.ID); err != nil {
				t.Fatal(err)
			}
			tags, _ = b.db.ReleaseTags(ctx, robot.Robot.ID)
			if tags["latest"] != beta.ID || tags["stable"] != v.ID {
				t.Errorf("release tags after activating a beta = %v", tags)
			}
			_, err = b.svc.Activate(ctx, b.admin, robot.Robot.ID, uuid.NewString())
			wantKind(t, err, hub.ENotFound)
			other2 := b.createRobot(t, "another-robot")
			_, err = b.svc.Activate(ctx, b.admin, other2.Robot.ID, beta.ID)
			wantKind(t, err, hub.ENotFound)

			// The package can be downloaded and matches.
			a, err := b.svc.OpenArtifact(ctx, b.admin, robot.Robot.ID, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer a.File.Close()
			if a.Size != int64(len(pkg)) || a.Name != "robot-registry-test-1.1.0.zip" {
				t.Errorf("artifact = %+v", a)
			}
			_, err = b.svc.OpenArtifact(ctx, b.admin, robot.Robot.ID, first.ID)
			wantKind(t, err, hub.ENotFound)

			events, _, _ := b.db.ListAudit(ctx, hub.AuditFilter{Action: "robot_version_published", Page: hub.Page{Limit: 10}})
			if len(events) != 3 || events[len(events)-1].Metadata["artifact_sha256"] != sha(pkg) {
				t.Errorf("publish audit = %+v", events)
			}
		})
	}
}

func assertOneActive(t *testing.T, b bundle, robotID, wantID string) {
	t.Helper()
	versions, err := b.svc.Versions(context.Background(), b.admin, robotID)
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, v := range versions {
		if v.IsActive {
			active = append(active, v.ID)
		}
	}
	if len(active) != 1 || (wantID != "" && active[0] != wantID) {
		t.Fatalf("active versions = %v, want exactly [%s]", active, wantID)
	}
}

func TestPublishRejectsBadInputAndLeavesNothing(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			robot := b.createRobot(t, "strict-robot")
			good := zipOf(t, mainZip)
			var corrupt []byte
			corrupt = append(corrupt, good[:len(good)/2]...)
			tests := []struct {
				name    string
				in      registry.PublishInput
				content []byte
				kind    string
				msg     string
			}{
				{"bad semver", registry.PublishInput{Version: "v1"}, good, hub.EInvalid, "Invalid semver version."},
				{"bad channel", registry.PublishInput{Version: "1.2.0", Channel: "dev"}, good, hub.EInvalid, "Invalid release channel."},
				{"arguments not JSON", registry.PublishInput{Version: "1.2.0", ArgumentsJSON: "[oops"}, good, hub.EInvalid, "Invalid arguments_json/env_vars_json payload."},
				{"arguments not strings", registry.PublishInput{Version: "1.2.0", ArgumentsJSON: "[1,2]"}, good, hub.EInvalid, "arguments_json must be a JSON array of strings."},
				{"env not pairs", registry.PublishInput{Version: "1.2.0", EnvVarsJSON: `{"A":1}`}, good, hub.EInvalid, "env_vars_json must be a JSON object of string pairs."},
				{"txt file", registry.PublishInput{Version: "1.2.0", FileName: "notes.txt"}, []byte("hello"), hub.EInvalid, "Only .zip and .exe artifacts are supported."},
				{"exe that is not one", registry.PublishInput{Version: "1.2.0", FileName: "tool.EXE"}, []byte("#!/bin/sh\n"), hub.EInvalid, ""},
				{"corrupt zip", registry.PublishInput{Version: "1.2.0"}, corrupt, hub.EInvalid, ""},
				{"empty file", registry.PublishInput{Version: "1.2.0"}, []byte{}, hub.EInvalid, ""},
				{"missing entry point", registry.PublishInput{Version: "1.2.0", EntrypointPath: "run.py"}, good, hub.EInvalid, ""},
				{"entry point escapes", registry.PublishInput{Version: "1.2.0", EntrypointPath: "../main.py"}, good, hub.EInvalid, ""},
				{"missing working dir", registry.PublishInput{Version: "1.2.0", WorkingDirectory: "src"}, good, hub.EInvalid, ""},
				{"zip slip", registry.PublishInput{Version: "1.2.0"}, zipOf(t, map[string]string{"main.py": "x", "../evil.py": "x"}), hub.EInvalid, ""},
				{"too many files", registry.PublishInput{Version: "1.2.0"}, manyFiles(t, 101), hub.EInvalid, ""},
				{"bad entrypoint type", registry.PublishInput{Version: "1.2.0", EntrypointType: "BASH"}, good, hub.EInvalid, ""},
				{"requirements that do not parse", registry.PublishInput{Version: "1.2.0"}, zipOf(t, map[string]string{"main.py": "x", "requirements.txt": "requests\nimport pandas\n"}),
					hub.EInvalid, `requirements.txt line 2: "import pandas" is not a requirement (a project name such as requests, optionally with a version: requests>=2.31)`},
				{"requirements including a file", registry.PublishInput{Version: "1.2.0"}, zipOf(t, map[string]string{"main.py": "x", "requirements.txt": "-r base.txt\n"}),
					hub.EInvalid, "requirements.txt line 1: including other files (-r, -c) is not supported: list every requirement in this file"},
				{"pyproject that does not parse", registry.PublishInput{Version: "1.2.0"}, zipOf(t, map[string]string{"main.py": "x", "pyproject.toml": "[project\n"}), hub.EInvalid, ""},
				{"python version that is not one", registry.PublishInput{Version: "1.2.0"}, zipOf(t, map[string]string{"main.py": "x", "robot.yaml": "python: latest\n"}),
					hub.EInvalid, `robot.yaml: python must be a Python version such as "3.11".`},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := b.publish(b.admin, robot.Robot.ID, tt.in, tt.content)
					wantKind(t, err, tt.kind)
					if tt.msg != "" && hub.ErrorMessage(err) != tt.msg {
						t.Errorf("message = %q, want %q", hub.ErrorMessage(err), tt.msg)
					}
					if f := b.files(t); len(f) != 0 {
						t.Errorf("files left behind: %v", f)
					}
				})
			}
			versions, _ := b.svc.Versions(context.Background(), b.admin, robot.Robot.ID)
			if len(versions) != 1 {
				t.Errorf("versions = %d, want only the initial one", len(versions))
			}
			// Too large for the cap: 413.
			small := registry.New(b.db, mustBlobs(t, b.root), registry.Config{MaxArtifactBytes: 100, Limits: archive.Limits{MaxFiles: 10, MaxUnpackedBytes: 1 << 20}})
			up, _ := small.NewUpload()
			_, err := up.Write(make([]byte, 101))
			up.Abort()
			if err == nil {
				t.Error("writing past MAX_ARTIFACT_BYTES succeeded")
			}
			if hub.ErrorKind(small.TooLarge()) != hub.ETooLarge {
				t.Error("TooLarge is not ETooLarge")
			}
		})
	}
}

func mustBlobs(t *testing.T, root string) *blob.Local {
	l, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func manyFiles(t *testing.T, n int) []byte {
	files := map[string]string{"main.py": "x"}
	for i := range n {
		files["f/"+uuid.NewString()[:8]+string(rune('a'+i%26))] = "x"
	}
	return zipOf(t, files)
}

func TestPublishExeAndRequiredEnv(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0])
	robot := b.createRobot(t, "exe-robot")
	exe := append([]byte("MZ\x90\x00"), make([]byte, 200)...)
	v, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0.1", FileName: "Tool.exe", EntrypointType: "PYTHON"}, exe)
	if err != nil {
		t.Fatal(err)
	}
	if v.ArtifactType != "EXE" || v.EntrypointType != "EXE" || !strings.HasSuffix(*v.ArtifactPath, "/artifact.exe") {
		t.Errorf("exe version = %+v", v)
	}
	withYAML := zipOf(t, map[string]string{"main.py": "x", "robot.yaml": "env:\n  required:\n    - API_TOKEN\n    - REGION\n"})
	v, err = b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0.2"}, withYAML)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.RequiredEnvKeys, ",") != "API_TOKEN,REGION" {
		t.Errorf("required env keys = %v", v.RequiredEnvKeys)
	}
	withReqs := zipOf(t, map[string]string{"main.py": "x", "robot.yaml": "python: \"3.11\"\n", "requirements.txt": "# deps\nrequests>=2.31\nopenpyxl==3.1.*\n",
		"pyproject.toml": "[project]\ndependencies = [\"ignored\"]\n"})
	if _, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0.3"}, withReqs); err != nil {
		t.Fatalf("a package with valid requirements: %v", err)
	}
}

func TestPublishEntrypointFromRobotYAML(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0])
	robot := b.createRobot(t, "yaml-robot")
	pkg := func(yaml string) []byte {
		return zipOf(t, map[string]string{"main.py": "x", "src/app.py": "x", "run.sh": "#!/bin/sh\n", "robot.yaml": yaml})
	}
	tests := []struct {
		name     string
		in       registry.PublishInput
		content  []byte
		wantPath string
		wantType string
		wantErr  string
	}{
		{"path from robot.yaml", registry.PublishInput{}, pkg("entrypoint_path: ./src/app.py\n"), "src/app.py", "PYTHON", ""},
		{"path and type from robot.yaml", registry.PublishInput{}, pkg("entrypoint_path: run.sh\nentrypoint_type: exe\n"), "run.sh", "EXE", ""},
		{"form wins over robot.yaml", registry.PublishInput{EntrypointPath: "main.py", EntrypointType: "PYTHON"},
			pkg("entrypoint_path: run.sh\nentrypoint_type: EXE\n"), "main.py", "PYTHON", ""},
		{"robot.yaml without entry point", registry.PublishInput{}, pkg("required_env: [A]\n"), "main.py", "PYTHON", ""},
		{"unreadable robot.yaml is ignored", registry.PublishInput{}, pkg("entrypoint_path: [run.sh]\n"), "main.py", "PYTHON", ""},
		{"robot.yaml names a missing file", registry.PublishInput{}, pkg("entrypoint_path: gone.py\n"), "", "",
			`The package has no entry point "gone.py" (entrypoint_path in robot.yaml).`},
		{"robot.yaml names a bad type", registry.PublishInput{}, pkg("entrypoint_type: BASH\n"), "", "",
			"entrypoint_type in robot.yaml must be PYTHON or EXE."},
		{"robot.yaml path escapes", registry.PublishInput{}, pkg("entrypoint_path: ../main.py\n"), "", "",
			`entrypoint_path in robot.yaml must be a relative path inside the package: Invalid path "../main.py": ".." segment.`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Version = "2.0." + itoa(i)
			v, err := b.publish(b.admin, robot.Robot.ID, tt.in, tt.content)
			if tt.wantErr != "" {
				wantKind(t, err, hub.EInvalid)
				if got := hub.ErrorMessage(err); got != tt.wantErr {
					t.Errorf("got error %q, want %q", got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.EntrypointPath != tt.wantPath || v.EntrypointType != tt.wantType {
				t.Errorf("got entry point %s (%s), want %s (%s)", v.EntrypointPath, v.EntrypointType, tt.wantPath, tt.wantType)
			}
		})
	}
}

func TestConcurrentPublishes(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			robot := b.createRobot(t, "busy-robot")
			var wg sync.WaitGroup
			errs := make([]error, 20)
			for i := range 20 {
				wg.Go(func() {
					pkg := zipOf(t, map[string]string{"main.py": "print(" + string(rune('a'+i)) + ")"})
					_, errs[i] = b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0." + itoa(i+1)}, pkg)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("distinct publish %d: %v", i, err)
				}
			}
			assertOneActive(t, b, robot.Robot.ID, "")

			// 20 publishes of one version: exactly one wins; its file matches its row.
			pkgs := make([][]byte, 20)
			for i := range 20 {
				pkgs[i] = zipOf(t, map[string]string{"main.py": "print('contender " + itoa(i) + "')"})
			}
			won := make([]*hub.Version, 20)
			for i := range 20 {
				wg.Go(func() {
					v, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "9.9.9"}, pkgs[i])
					if err == nil {
						won[i] = v
					} else if hub.ErrorKind(err) != hub.EInvalid {
						t.Errorf("contender %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			var winner *hub.Version
			for _, v := range won {
				if v != nil {
					if winner != nil {
						t.Fatal("two publishes of the same version succeeded")
					}
					winner = v
				}
			}
			if winner == nil {
				t.Fatal("no publish of 9.9.9 succeeded")
			}
			stored, _ := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(*winner.ArtifactPath)))
			if sha(stored) != *winner.ArtifactSHA256 {
				t.Error("stored file does not match the winning row's SHA-256")
			}
			assertOneActive(t, b, robot.Robot.ID, winner.ID)
			if n := len(b.files(t)); n != 21 {
				t.Errorf("files in store = %d, want 21 (20 distinct + 1 winner)", n)
			}

			// Concurrent activations end with exactly one active version.
			versions, _ := b.svc.Versions(context.Background(), b.admin, robot.Robot.ID)
			for _, v := range versions {
				if v.ArtifactPath == nil {
					continue // the initial version has no package
				}
				wg.Go(func() {
					if _, err := b.svc.Activate(context.Background(), b.admin, robot.Robot.ID, v.ID); err != nil {
						t.Errorf("activate: %v", err)
					}
				})
			}
			wg.Wait()
			assertOneActive(t, b, robot.Robot.ID, "")
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestScopedAccess(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			ctx := context.Background()
			fin := b.createRobot(t, "finance-bot", "finance")
			hr := b.createRobot(t, "hr-bot", "hr")
			if _, err := b.svc.SetTags(ctx, b.admin, hr.Robot.ID, []string{"hr", "people"}); err != nil {
				t.Fatal(err)
			}
			pub := b.principal(t, hub.RoleViewer,
				identity.NewGrant{ResourceType: "robot", Action: "robot.publish", ScopeTag: ptr("finance")},
				identity.NewGrant{ResourceType: "robot", Action: "robot.read", ResourceID: &fin.Robot.ID})
			pkg := zipOf(t, mainZip)
			if _, err := b.publish(pub, fin.Robot.ID, registry.PublishInput{Version: "1.0.1"}, pkg); err != nil {
				t.Errorf("scoped publisher on its robot: %v", err)
			}
			_, err := b.publish(pub, hr.Robot.ID, registry.PublishInput{Version: "1.0.1"}, pkg)
			wantKind(t, err, hub.EForbidden)
			_, err = b.svc.CreateRobot(ctx, pub, registry.NewRobot{Name: "sneaky", InitialVersion: registry.NewVersion{Version: "1.0.0"}})
			wantKind(t, err, hub.EForbidden)
			list, total, _ := b.svc.ListRobots(ctx, pub, registry.ListInput{Page: hub.Page{Limit: 50}})
			if total != 1 || list[0].Robot.ID != fin.Robot.ID {
				t.Errorf("scoped list = %d robots, want only finance-bot", total)
			}
			_, err = b.svc.GetRobot(ctx, pub, hr.Robot.ID)
			wantKind(t, err, hub.EForbidden)
			_, err = b.svc.GetRobot(ctx, pub, "not-a-uuid")
			wantKind(t, err, hub.EInvalid)

			// Filters.
			for _, f := range []struct {
				in   registry.ListInput
				want int
			}{
				{registry.ListInput{Query: "FIN"}, 1}, {registry.ListInput{Query: "bot"}, 2}, {registry.ListInput{Query: "%"}, 0},
				{registry.ListInput{Tag: "people"}, 1}, {registry.ListInput{Tag: "nope"}, 0}, {registry.ListInput{Page: hub.Page{Skip: 1}}, 2},
			} {
				if f.in.Page.Limit == 0 {
					f.in.Page.Limit = 50
				}
				list, total, err := b.svc.ListRobots(ctx, b.admin, f.in)
				if err != nil || total != f.want {
					t.Errorf("filter %+v: total %d (%d items), %v; want %d", f.in, total, len(list), err, f.want)
				}
			}

			// Env values are masked for readers who cannot publish.
			no := false
			if _, err := b.publish(b.admin, hr.Robot.ID, registry.PublishInput{Version: "1.0.1", EnvVarsJSON: `{"API_KEY":"s3cret"}`, Activate: &no}, pkg); err != nil {
				t.Fatal(err)
			}
			viewer := b.principal(t, hub.RoleViewer)
			vs, _ := b.svc.Versions(ctx, viewer, hr.Robot.ID)
			if vs[0].EnvVars["API_KEY"] != "********" {
				t.Errorf("viewer sees env value %q", vs[0].EnvVars["API_KEY"])
			}
			vs, _ = b.svc.Versions(ctx, b.admin, hr.Robot.ID)
			if vs[0].EnvVars["API_KEY"] != "s3cret" {
				t.Errorf("publisher sees env value %q", vs[0].EnvVars["API_KEY"])
			}
		})
	}
}

// TestPrepareVersion: a prepare request needs a Python package version of
// the robot, is audited, and is listed for workers; nothing is recorded
// for a refused one.
func TestPrepareVersion(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect)
			ctx := context.Background()
			robot := b.createRobot(t, "prepare-robot")
			other := b.createRobot(t, "other-robot")
			py, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0.1"}, zipOf(t, map[string]string{"main.py": "x", "requirements.txt": "requests\n"}))
			if err != nil {
				t.Fatal(err)
			}
			exe, err := b.publish(b.admin, robot.Robot.ID, registry.PublishInput{Version: "1.0.2", FileName: "Tool.exe"}, append([]byte("MZ\x90\x00"), make([]byte, 200)...))
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name, robot, version, kind string
			}{
				{"not a uuid", robot.Robot.ID, "nope", hub.ENotFound},
				{"unknown version", robot.Robot.ID, uuid.NewString(), hub.ENotFound},
				{"another robot's version", other.Robot.ID, py.ID, hub.ENotFound},
				{"an exe", robot.Robot.ID, exe.ID, hub.EConflict},
			} {
				_, err := b.svc.Prepare(ctx, b.admin, tt.robot, tt.version)
				if hub.ErrorKind(err) != tt.kind {
					t.Errorf("%s: got %v, want %s", tt.name, err, tt.kind)
				}
			}
			if got, _ := b.db.PendingPrepares(ctx, "w1", time.Time{}, 10); len(got) != 0 {
				t.Fatalf("refused requests were recorded: %+v", got)
			}
			req, err := b.svc.Prepare(ctx, b.admin, robot.Robot.ID, py.ID)
			if err != nil || req.VersionID != py.ID || req.RequestedBy == nil {
				t.Fatalf("got %+v, %v", req, err)
			}
			if got, _ := b.db.PendingPrepares(ctx, "w1", time.Time{}, 10); len(got) != 1 || got[0].ID != req.ID {
				t.Fatalf("pending = %+v", got)
			}
			events, _, _ := b.db.ListAudit(ctx, hub.AuditFilter{Action: "robot_version_prepare_requested", Page: hub.Page{Limit: 10}})
			if len(events) != 1 || events[0].TargetID != py.ID {
				t.Errorf("audit = %+v", events)
			}
			envs, err := b.svc.Environments(ctx, b.admin, robot.Robot.ID, py.ID)
			if err != nil || len(envs) != 0 {
				t.Errorf("environments = %+v, %v", envs, err)
			}
		})
	}
}
