// Package portal is the self-service portal: domains group services; a
// service binds a robot to a form (form_schema_json) and a run template
// (run_template_json). Running a service validates and coerces the form
// values, renders the template into arguments and environment, and queues a
// run of the robot.
package portal

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
	"automationhub/internal/runs"
)

// Store is the persistence the portal needs (sqlstore).
type Store interface {
	CreateDomain(ctx context.Context, d *hub.Domain, ev *hub.AuditEvent) error
	UpdateDomain(ctx context.Context, d *hub.Domain, ev *hub.AuditEvent) error
	DeleteDomain(ctx context.Context, id string, ev *hub.AuditEvent) error
	DomainByID(ctx context.Context, id string) (*hub.Domain, error)
	DomainBySlug(ctx context.Context, slug string) (*hub.Domain, error)
	ListDomains(ctx context.Context, page hub.Page) ([]hub.Domain, error)
	CreateService(ctx context.Context, s *hub.Service, ev *hub.AuditEvent) error
	UpdateService(ctx context.Context, s *hub.Service, ev *hub.AuditEvent) error
	DeleteService(ctx context.Context, id string, ev *hub.AuditEvent) error
	ServiceByID(ctx context.Context, id string) (*hub.Service, error)
	ListServices(ctx context.Context, f hub.ServiceFilter) ([]hub.Service, error)
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	VersionByID(ctx context.Context, robotID, versionID string) (*hub.Version, error)
	ListRuns(ctx context.Context, f hub.RunFilter) ([]hub.Run, hub.ListInfo, error)
}

// Runner queues runs (runs.Service).
type Runner interface {
	Execute(ctx context.Context, p *hub.Principal, robotID string, in runs.ExecuteInput) (*hub.Run, error)
}

// Service implements the portal.
type Service struct {
	store  Store
	runner Runner
	clock  hub.Clock
}

// New returns the portal service.
func New(store Store, runner Runner, clock hub.Clock) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	return &Service{store: store, runner: runner, clock: clock}
}

var slugRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

func need(p *hub.Principal, perm hub.Permission) error {
	if !rbac.Allowed(p, perm, nil) {
		return forbidden()
	}
	return nil
}

func parseID(id, msg string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", hub.Errorf(hub.ENotFound, "%s", msg)
	}
	return u.String(), nil
}

// DomainInput is a domain create or edit; nil fields are absent (edit).
type DomainInput struct {
	Name, Slug  *string
	Description **string
}

func checkDomain(name, slug string) error {
	if n := len([]rune(name)); n < 2 || n > 200 {
		return hub.Errorf(hub.EUnprocessable, "name must be 2 to 200 characters.")
	}
	if len(slug) < 2 || len(slug) > 120 || !slugRE.MatchString(slug) {
		return hub.Errorf(hub.EUnprocessable, "Invalid slug format. Use lowercase and hyphen, example: dp-rh.")
	}
	return nil
}

// CreateDomain creates a domain (service.manage).
func (s *Service) CreateDomain(ctx context.Context, p *hub.Principal, in DomainInput) (*hub.Domain, error) {
	if err := need(p, hub.PermServiceManage); err != nil {
		return nil, err
	}
	if in.Name == nil || in.Slug == nil {
		return nil, hub.Errorf(hub.EUnprocessable, "name and slug are required.")
	}
	if err := checkDomain(*in.Name, *in.Slug); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	d := &hub.Domain{ID: uuid.NewString(), Name: *in.Name, Slug: *in.Slug, CreatedAt: now, UpdatedAt: now}
	if in.Description != nil {
		d.Description = *in.Description
	}
	ev := audit.Event(p, "domain.created", "domain", d.ID, map[string]any{"domain_id": d.ID, "name": d.Name, "slug": d.Slug}, now)
	if err := s.store.CreateDomain(ctx, d, ev); err != nil {
		return nil, err
	}
	return d, nil
}

// UpdateDomain edits a domain (service.manage); only given fields change.
func (s *Service) UpdateDomain(ctx context.Context, p *hub.Principal, id string, in DomainInput) (*hub.Domain, error) {
	if err := need(p, hub.PermServiceManage); err != nil {
		return nil, err
	}
	id, err := parseID(id, "Domain not found.")
	if err != nil {
		return nil, err
	}
	d, err := s.store.DomainByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		d.Name = *in.Name
	}
	if in.Slug != nil {
		d.Slug = *in.Slug
	}
	if in.Description != nil {
		d.Description = *in.Description
	}
	if err := checkDomain(d.Name, d.Slug); err != nil {
		return nil, err
	}
	d.UpdatedAt = s.clock.Now()
	ev := audit.Event(p, "domain.updated", "domain", d.ID, map[string]any{"domain_id": d.ID}, d.UpdatedAt)
	if err := s.store.UpdateDomain(ctx, d, ev); err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteDomain deletes a domain without services (service.manage).
func (s *Service) DeleteDomain(ctx context.Context, p *hub.Principal, id string) error {
	if err := need(p, hub.PermServiceManage); err != nil {
		return err
	}
	id, err := parseID(id, "Domain not found.")
	if err != nil {
		return err
	}
	return s.store.DeleteDomain(ctx, id, audit.Event(p, "domain.deleted", "domain", id, map[string]any{"domain_id": id}, s.clock.Now()))
}

// ListDomains lists domains by name (service.read).
func (s *Service) ListDomains(ctx context.Context, p *hub.Principal, page hub.Page) ([]hub.Domain, error) {
	if err := need(p, hub.PermServiceRead); err != nil {
		return nil, err
	}
	return s.store.ListDomains(ctx, page)
}

// GetDomain returns one domain (service.read).
func (s *Service) GetDomain(ctx context.Context, p *hub.Principal, id string) (*hub.Domain, error) {
	if err := need(p, hub.PermServiceRead); err != nil {
		return nil, err
	}
	id, err := parseID(id, "Domain not found.")
	if err != nil {
		return nil, err
	}
	return s.store.DomainByID(ctx, id)
}

// DomainServices lists a domain's services by slug (service.read).
func (s *Service) DomainServices(ctx context.Context, p *hub.Principal, slug string, includeDisabled bool) ([]hub.Service, error) {
	if err := need(p, hub.PermServiceRead); err != nil {
		return nil, err
	}
	d, err := s.store.DomainBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	return s.store.ListServices(ctx, hub.ServiceFilter{DomainID: d.ID, EnabledOnly: !includeDisabled, Scope: catalogueScope(p), Page: hub.Page{Limit: 1000}})
}

// catalogueScope is the robots whose services a caller sees: every robot for
// service managers, else the robots the caller may read (a user whose
// robot.read is limited to some robots sees only their services).
func catalogueScope(p *hub.Principal) hub.RobotScope {
	if rbac.Allowed(p, hub.PermServiceManage, nil) {
		return hub.RobotScope{All: true}
	}
	return rbac.Scope(p, hub.PermRobotRead)
}

// ServiceInput is a service create or edit; nil fields are absent (edit).
// Pointers to nil pointers are explicit nulls.
type ServiceInput struct {
	DomainID, RobotID, Title *string
	Description, Icon        **string
	Enabled                  *bool
	DefaultVersionID         **string
	FormSchema, RunTemplate  json.RawMessage // nil: absent (null is ignored on edit)
}

// CheckDocuments validates a service's form_schema_json and
// run_template_json exactly as saving the service would, without saving
// anything (service.manage): editors use it to check a form as it is
// typed. An error is reported with the document's name as its field
// (hub.ErrorFields).
func (s *Service) CheckDocuments(ctx context.Context, p *hub.Principal, formSchema, runTemplate []byte) error {
	if err := need(p, hub.PermServiceManage); err != nil {
		return err
	}
	return checkDocuments(formSchema, runTemplate)
}

// checkDocuments parses the form, then the run template against it.
func checkDocuments(formSchema, runTemplate []byte) error {
	schema, err := ParseFormSchema(formSchema)
	if err != nil {
		return documentErr("form_schema_json", err)
	}
	if _, err := ParseRunTemplate(runTemplate, schema); err != nil {
		return documentErr("run_template_json", err)
	}
	return nil
}

// documentErr names the document an error is about.
func documentErr(name string, err error) error {
	return hub.FieldErrors(hub.ErrorKind(err), []hub.FieldError{{Field: name, Message: hub.ErrorMessage(err)}})
}

// validate checks the JSON documents and references of a service, in the
// previous backend's order.
func (s *Service) validate(ctx context.Context, svc *hub.Service) error {
	if err := checkDocuments(svc.FormSchema, svc.RunTemplate); err != nil {
		return err
	}
	if _, err := s.store.DomainByID(ctx, svc.DomainID); err != nil {
		return err
	}
	if _, err := s.store.RobotByID(ctx, svc.RobotID); err != nil {
		return err
	}
	if svc.DefaultVersionID != nil {
		if _, err := s.store.VersionByID(ctx, svc.RobotID, *svc.DefaultVersionID); err != nil {
			return hub.Errorf(hub.EInvalid, "default_version_id must belong to the selected robot.")
		}
	}
	if n := len([]rune(svc.Title)); n < 2 || n > 200 {
		return hub.Errorf(hub.EUnprocessable, "title must be 2 to 200 characters.")
	}
	return nil
}

func uuidOrInvalid(v, field string) (string, error) {
	u, err := uuid.Parse(v)
	if err != nil {
		return "", hub.Errorf(hub.EUnprocessable, "%s must be a UUID.", field)
	}
	return u.String(), nil
}

// CreateService creates a service (service.manage).
func (s *Service) CreateService(ctx context.Context, p *hub.Principal, in ServiceInput) (*hub.Service, error) {
	if err := need(p, hub.PermServiceManage); err != nil {
		return nil, err
	}
	if in.DomainID == nil || in.RobotID == nil || in.Title == nil || in.FormSchema == nil {
		return nil, hub.Errorf(hub.EUnprocessable, "domain_id, robot_id, title and form_schema_json are required.")
	}
	now := s.clock.Now()
	svc := &hub.Service{ID: uuid.NewString(), Title: *in.Title, Enabled: true, FormSchema: in.FormSchema, RunTemplate: in.RunTemplate,
		CreatedBy: p.UserID(), CreatedAt: now, UpdatedAt: now}
	var err error
	if svc.DomainID, err = uuidOrInvalid(*in.DomainID, "domain_id"); err != nil {
		return nil, err
	}
	if svc.RobotID, err = uuidOrInvalid(*in.RobotID, "robot_id"); err != nil {
		return nil, err
	}
	if len(svc.RunTemplate) == 0 || string(svc.RunTemplate) == "null" {
		svc.RunTemplate = []byte("{}")
	}
	if in.Enabled != nil {
		svc.Enabled = *in.Enabled
	}
	if in.Description != nil {
		svc.Description = *in.Description
	}
	if in.Icon != nil {
		svc.Icon = *in.Icon
	}
	if in.DefaultVersionID != nil && *in.DefaultVersionID != nil {
		v, err := uuidOrInvalid(**in.DefaultVersionID, "default_version_id")
		if err != nil {
			return nil, err
		}
		svc.DefaultVersionID = &v
	}
	if err := s.validate(ctx, svc); err != nil {
		return nil, err
	}
	ev := audit.Event(p, "service.created", "service", svc.ID, map[string]any{"service_id": svc.ID, "domain_id": svc.DomainID, "robot_id": svc.RobotID}, now)
	if err := s.store.CreateService(ctx, svc, ev); err != nil {
		return nil, err
	}
	return svc, nil
}

// UpdateService edits a service (service.manage) with the previous
// backend's rules for absent and null fields.
func (s *Service) UpdateService(ctx context.Context, p *hub.Principal, id string, in ServiceInput) (*hub.Service, error) {
	if err := need(p, hub.PermServiceManage); err != nil {
		return nil, err
	}
	id, err := parseID(id, "Service not found.")
	if err != nil {
		return nil, err
	}
	svc, err := s.store.ServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.DomainID != nil {
		if svc.DomainID, err = uuidOrInvalid(*in.DomainID, "domain_id"); err != nil {
			return nil, err
		}
	}
	if in.RobotID != nil {
		if svc.RobotID, err = uuidOrInvalid(*in.RobotID, "robot_id"); err != nil {
			return nil, err
		}
	}
	if in.Title != nil {
		svc.Title = *in.Title
	}
	if in.Description != nil {
		svc.Description = *in.Description
	}
	if in.Icon != nil {
		svc.Icon = *in.Icon
	}
	if in.Enabled != nil {
		svc.Enabled = *in.Enabled
	}
	if in.DefaultVersionID != nil {
		svc.DefaultVersionID = nil
		if *in.DefaultVersionID != nil {
			v, err := uuidOrInvalid(**in.DefaultVersionID, "default_version_id")
			if err != nil {
				return nil, err
			}
			svc.DefaultVersionID = &v
		}
	}
	if in.FormSchema != nil && string(in.FormSchema) != "null" {
		svc.FormSchema = in.FormSchema
	}
	if in.RunTemplate != nil && string(in.RunTemplate) != "null" {
		svc.RunTemplate = in.RunTemplate
	}
	if err := s.validate(ctx, svc); err != nil {
		return nil, err
	}
	svc.UpdatedAt = s.clock.Now()
	ev := audit.Event(p, "service.updated", "service", svc.ID, map[string]any{"service_id": svc.ID}, svc.UpdatedAt)
	if err := s.store.UpdateService(ctx, svc, ev); err != nil {
		return nil, err
	}
	return svc, nil
}

// DeleteService deletes a service without runs (service.manage).
func (s *Service) DeleteService(ctx context.Context, p *hub.Principal, id string) error {
	if err := need(p, hub.PermServiceManage); err != nil {
		return err
	}
	id, err := parseID(id, "Service not found.")
	if err != nil {
		return err
	}
	return s.store.DeleteService(ctx, id, audit.Event(p, "service.deleted", "service", id, map[string]any{"service_id": id}, s.clock.Now()))
}

// GetService returns one service (service.read).
func (s *Service) GetService(ctx context.Context, p *hub.Principal, id string) (*hub.Service, error) {
	if err := need(p, hub.PermServiceRead); err != nil {
		return nil, err
	}
	id, err := parseID(id, "Service not found.")
	if err != nil {
		return nil, err
	}
	svc, err := s.store.ServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !rbac.Allowed(p, hub.PermServiceManage, nil) {
		robot, err := s.store.RobotByID(ctx, svc.RobotID)
		if err != nil {
			return nil, err
		}
		if !rbac.Allowed(p, hub.PermRobotRead, robot.Ref()) {
			return nil, hub.Errorf(hub.EForbidden, msgRobotScope)
		}
	}
	return svc, nil
}

// ListServices lists services newest first (service.read).
func (s *Service) ListServices(ctx context.Context, p *hub.Principal, f hub.ServiceFilter) ([]hub.Service, error) {
	if err := need(p, hub.PermServiceRead); err != nil {
		return nil, err
	}
	if f.DomainID != "" {
		id, err := uuidOrInvalid(f.DomainID, "domain_id")
		if err != nil {
			return nil, err
		}
		f.DomainID = id
	}
	f.Scope = catalogueScope(p)
	return s.store.ListServices(ctx, f)
}

const msgRobotScope = "Permissao insuficiente para o robo vinculado ao servico."

// Run runs a service with the user's form values (service.run, and
// robot.run on the service's robot). Business errors are 400 as before.
func (s *Service) Run(ctx context.Context, p *hub.Principal, id string, params map[string]any) (*hub.Run, error) {
	if err := need(p, hub.PermServiceRun); err != nil {
		return nil, err
	}
	id, err := parseID(id, "Service not found.")
	if err != nil {
		return nil, err
	}
	svc, err := s.store.ServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	robot, err := s.store.RobotByID(ctx, svc.RobotID)
	if err != nil {
		return nil, err
	}
	if !rbac.Allowed(p, hub.PermRobotRun, robot.Ref()) {
		return nil, hub.Errorf(hub.EForbidden, msgRobotScope)
	}
	if !svc.Enabled {
		return nil, hub.Errorf(hub.EInvalid, "Service is currently disabled.")
	}
	schema, err := ParseFormSchema(svc.FormSchema)
	if err != nil {
		return nil, err
	}
	tmpl, err := ParseRunTemplate(svc.RunTemplate, schema)
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = map[string]any{}
	}
	resolved, err := Resolve(schema, tmpl, params)
	if err != nil {
		return nil, err
	}
	args, env, envName, err := Render(tmpl, resolved)
	if err != nil {
		return nil, err
	}
	r, err := s.runner.Execute(ctx, p, robot.ID, runs.ExecuteInput{
		VersionID: svc.DefaultVersionID, RuntimeArguments: args, RuntimeEnv: env, EnvName: envName,
		ServiceID: &svc.ID, Parameters: resolved, Priority: tmpl.Priority,
	})
	switch hub.ErrorKind(err) {
	case "":
	case hub.EConflict:
		if errors.Is(err, hub.ErrMissingRunEnv) {
			return nil, err // 409 naming the keys, as execute answers
		}
		return nil, hub.Errorf(hub.EInvalid, "%s", hub.ErrorMessage(err))
	case hub.ENotFound, hub.EUnprocessable:
		return nil, hub.Errorf(hub.EInvalid, "%s", hub.ErrorMessage(err))
	default:
		return nil, err
	}
	r.Service = &hub.ServiceSummary{ID: svc.ID, Title: svc.Title}
	return r, nil
}

// Runs lists a service's runs, newest first (run.read on its robot).
func (s *Service) Runs(ctx context.Context, p *hub.Principal, id string, limit int) ([]hub.Run, error) {
	if !rbac.Has(p, hub.PermRunRead) {
		return nil, forbidden()
	}
	id, err := parseID(id, "Service not found.")
	if err != nil {
		return nil, err
	}
	svc, err := s.store.ServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	robot, err := s.store.RobotByID(ctx, svc.RobotID)
	if err != nil {
		return nil, err
	}
	if !rbac.Allowed(p, hub.PermRunRead, robot.Ref()) {
		return nil, hub.Errorf(hub.EForbidden, msgRobotScope)
	}
	list, _, err := s.store.ListRuns(ctx, hub.RunFilter{ServiceID: svc.ID, Scope: hub.RobotScope{All: true}, NoTotal: true, Page: hub.Page{Limit: limit}})
	return list, err
}
