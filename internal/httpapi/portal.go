package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/portal"
)

// Portal is what the portal endpoints need.
type Portal interface {
	CreateDomain(ctx context.Context, p *hub.Principal, in portal.DomainInput) (*hub.Domain, error)
	UpdateDomain(ctx context.Context, p *hub.Principal, id string, in portal.DomainInput) (*hub.Domain, error)
	DeleteDomain(ctx context.Context, p *hub.Principal, id string) error
	ListDomains(ctx context.Context, p *hub.Principal, page hub.Page) ([]hub.Domain, error)
	GetDomain(ctx context.Context, p *hub.Principal, id string) (*hub.Domain, error)
	DomainServices(ctx context.Context, p *hub.Principal, slug string, includeDisabled bool) ([]hub.Service, error)
	CreateService(ctx context.Context, p *hub.Principal, in portal.ServiceInput) (*hub.Service, error)
	UpdateService(ctx context.Context, p *hub.Principal, id string, in portal.ServiceInput) (*hub.Service, error)
	DeleteService(ctx context.Context, p *hub.Principal, id string) error
	CheckDocuments(ctx context.Context, p *hub.Principal, formSchema, runTemplate []byte) error
	GetService(ctx context.Context, p *hub.Principal, id string) (*hub.Service, error)
	ListServices(ctx context.Context, p *hub.Principal, f hub.ServiceFilter) ([]hub.Service, error)
	Run(ctx context.Context, p *hub.Principal, id string, params map[string]any) (*hub.Run, error)
	Runs(ctx context.Context, p *hub.Principal, id string, limit int) ([]hub.Run, error)
}

// DomainRead is a portal domain.
type DomainRead struct {
	ID          string    `json:"id" format:"uuid"`
	Name        string    `json:"name"`
	Slug        string    `json:"slug"`
	Description *string   `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func domainRead(d *hub.Domain) DomainRead {
	return DomainRead{ID: d.ID, Name: d.Name, Slug: d.Slug, Description: d.Description, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// ServiceRead is a portal service.
type ServiceRead struct {
	ID               string          `json:"id" format:"uuid"`
	DomainID         string          `json:"domain_id" format:"uuid"`
	RobotID          string          `json:"robot_id" format:"uuid"`
	Title            string          `json:"title"`
	Description      *string         `json:"description"`
	Icon             *string         `json:"icon"`
	Enabled          bool            `json:"enabled"`
	DefaultVersionID *string         `json:"default_version_id"`
	FormSchemaJSON   json.RawMessage `json:"form_schema_json" doc:"The form, as saved (see the FormSchemaJSON schema)."`
	RunTemplateJSON  json.RawMessage `json:"run_template_json" doc:"The run template, as saved (see the RunTemplateJSON schema)."`
	CreatedBy        *string         `json:"created_by"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

func serviceRead(s *hub.Service) ServiceRead {
	return ServiceRead{ID: s.ID, DomainID: s.DomainID, RobotID: s.RobotID, Title: s.Title, Description: s.Description, Icon: s.Icon,
		Enabled: s.Enabled, DefaultVersionID: s.DefaultVersionID, FormSchemaJSON: json.RawMessage(s.FormSchema),
		RunTemplateJSON: json.RawMessage(s.RunTemplate), CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

const tagPortal = "Portal"

// fields decodes a JSON object into raw values by key; a key present with
// null maps to "null".
func fields(raw []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
	}
	return m, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// strField reads an optional string: absent → nil; null → a pointer to nil
// when nullable, or the nullErr otherwise.
func strField(m map[string]json.RawMessage, key string) (**string, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	var s *string
	if !isNull(v) {
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, hub.Errorf(hub.EUnprocessable, "%s must be a string.", key)
		}
	}
	return &s, nil
}

// requiredField reads a field that may be absent but not null.
func requiredField(m map[string]json.RawMessage, key string) (*string, error) {
	p, err := strField(m, key)
	if err != nil || p == nil {
		return nil, err
	}
	if *p == nil {
		return nil, hub.Errorf(hub.EInvalid, "%s cannot be null.", key)
	}
	return *p, nil
}

func (s *Server) registerPortalRoutes() {
	reg := s.api.OpenAPI().Components.Schemas.Map()
	for name, doc := range map[string]map[string]any{"FormSchemaJSON": portal.FormSchemaJSONSchema(), "RunTemplateJSON": portal.RunTemplateJSONSchema()} {
		b, _ := json.Marshal(doc)
		var sch huma.Schema
		if json.Unmarshal(b, &sch) == nil {
			reg[name] = &sch
		}
	}

	type domainBody struct {
		Name        string  `json:"name,omitempty" minLength:"2" maxLength:"200"`
		Slug        string  `json:"slug,omitempty" minLength:"2" maxLength:"120" pattern:"^[a-z0-9]+(?:-[a-z0-9]+)*$"`
		Description *string `json:"description,omitempty" nullable:"true"`
	}
	type domainInput struct {
		RawBody []byte
		Body    domainBody
	}
	type domainOutput struct {
		Body DomainRead
	}
	domainInputOf := func(raw []byte) (portal.DomainInput, error) {
		m, err := fields(raw)
		if err != nil {
			return portal.DomainInput{}, err
		}
		var in portal.DomainInput
		if in.Name, err = requiredField(m, "name"); err != nil {
			return in, err
		}
		if in.Slug, err = requiredField(m, "slug"); err != nil {
			return in, err
		}
		in.Description, err = strField(m, "description")
		return in, err
	}
	register(s, protect(huma.Operation{
		OperationID: "create-domain", Method: http.MethodPost, Path: APIPrefix + "/domains", Tags: []string{tagPortal},
		Summary: "Create a portal domain", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *domainInput) (*domainOutput, error) {
		di, err := domainInputOf(in.RawBody)
		if err != nil {
			return nil, err
		}
		d, err := s.portal.CreateDomain(ctx, principalFrom(ctx), di)
		if err != nil {
			return nil, err
		}
		return &domainOutput{Body: domainRead(d)}, nil
	})

	type pageInput struct {
		Skip  int `query:"skip" minimum:"0" default:"0"`
		Limit int `query:"limit" minimum:"1" maximum:"200" default:"100"`
	}
	type domainsOutput struct {
		Body []DomainRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-domains", Method: http.MethodGet, Path: APIPrefix + "/domains", Tags: []string{tagPortal},
		Summary: "Portal domains by name",
	}, string(hub.PermServiceRead)), false, func(ctx context.Context, in *pageInput) (*domainsOutput, error) {
		list, err := s.portal.ListDomains(ctx, principalFrom(ctx), hub.Page{Skip: in.Skip, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &domainsOutput{Body: make([]DomainRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, domainRead(&list[i]))
		}
		return out, nil
	})

	type domainPath struct {
		DomainID string `path:"domain_id"`
	}
	register(s, protect(huma.Operation{
		OperationID: "get-domain", Method: http.MethodGet, Path: APIPrefix + "/domains/{domain_id}", Tags: []string{tagPortal},
		Summary: "One portal domain", Errors: []int{http.StatusNotFound},
	}, string(hub.PermServiceRead)), false, func(ctx context.Context, in *domainPath) (*domainOutput, error) {
		d, err := s.portal.GetDomain(ctx, principalFrom(ctx), in.DomainID)
		if err != nil {
			return nil, err
		}
		return &domainOutput{Body: domainRead(d)}, nil
	})

	type patchDomainInput struct {
		DomainID string `path:"domain_id"`
		RawBody  []byte
		Body     domainBody
	}
	register(s, protect(huma.Operation{
		OperationID: "update-domain", Method: http.MethodPatch, Path: APIPrefix + "/domains/{domain_id}", Tags: []string{tagPortal},
		Summary: "Edit a portal domain (only the fields sent)", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *patchDomainInput) (*domainOutput, error) {
		di, err := domainInputOf(in.RawBody)
		if err != nil {
			return nil, err
		}
		d, err := s.portal.UpdateDomain(ctx, principalFrom(ctx), in.DomainID, di)
		if err != nil {
			return nil, err
		}
		return &domainOutput{Body: domainRead(d)}, nil
	})

	type messageOutput struct {
		Body MessageBody
	}
	register(s, protect(huma.Operation{
		OperationID: "delete-domain", Method: http.MethodDelete, Path: APIPrefix + "/domains/{domain_id}", Tags: []string{tagPortal},
		Summary: "Delete a domain without services", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *domainPath) (*messageOutput, error) {
		if err := s.portal.DeleteDomain(ctx, principalFrom(ctx), in.DomainID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Domain removed successfully."}}, nil
	})

	type domainServicesInput struct {
		Slug            string `path:"slug"`
		IncludeDisabled bool   `query:"include_disabled" default:"false"`
	}
	register(s, protect(huma.Operation{
		OperationID: "list-domain-services", Method: http.MethodGet, Path: APIPrefix + "/domains/{slug}/services", Tags: []string{tagPortal},
		Summary: "A domain's services, newest first", Errors: []int{http.StatusNotFound},
	}, string(hub.PermServiceRead)), false, func(ctx context.Context, in *domainServicesInput) (*servicesBody, error) {
		list, err := s.portal.DomainServices(ctx, principalFrom(ctx), in.Slug, in.IncludeDisabled)
		if err != nil {
			return nil, err
		}
		return servicesOut(list), nil
	})

	type serviceBody struct {
		DomainID         string         `json:"domain_id,omitempty" format:"uuid"`
		RobotID          string         `json:"robot_id,omitempty" format:"uuid"`
		Title            string         `json:"title,omitempty" minLength:"2" maxLength:"200"`
		Description      *string        `json:"description,omitempty" nullable:"true"`
		Icon             *string        `json:"icon,omitempty" maxLength:"120" nullable:"true"`
		Enabled          *bool          `json:"enabled,omitempty"`
		DefaultVersionID *string        `json:"default_version_id,omitempty" nullable:"true"`
		FormSchemaJSON   map[string]any `json:"form_schema_json,omitempty" nullable:"true" doc:"See the FormSchemaJSON schema; validated on save."`
		RunTemplateJSON  map[string]any `json:"run_template_json,omitempty" nullable:"true" doc:"See the RunTemplateJSON schema; validated on save."`
	}
	serviceInputOf := func(raw []byte) (portal.ServiceInput, error) {
		m, err := fields(raw)
		if err != nil {
			return portal.ServiceInput{}, err
		}
		var in portal.ServiceInput
		for key, dst := range map[string]**string{"domain_id": &in.DomainID, "robot_id": &in.RobotID, "title": &in.Title} {
			if *dst, err = requiredField(m, key); err != nil {
				return in, err
			}
		}
		if in.Description, err = strField(m, "description"); err != nil {
			return in, err
		}
		if in.Icon, err = strField(m, "icon"); err != nil {
			return in, err
		}
		if in.DefaultVersionID, err = strField(m, "default_version_id"); err != nil {
			return in, err
		}
		if v, ok := m["enabled"]; ok {
			if isNull(v) {
				return in, hub.Errorf(hub.EInvalid, "enabled cannot be null.")
			}
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return in, hub.Errorf(hub.EUnprocessable, "enabled must be a boolean.")
			}
			in.Enabled = &b
		}
		in.FormSchema, in.RunTemplate = m["form_schema_json"], m["run_template_json"]
		return in, nil
	}
	type serviceInput struct {
		RawBody []byte
		Body    serviceBody
	}
	type serviceOutput struct {
		Body ServiceRead
	}
	register(s, protect(huma.Operation{
		OperationID: "create-service", Method: http.MethodPost, Path: APIPrefix + "/services", Tags: []string{tagPortal},
		Summary: "Create a portal service", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *serviceInput) (*serviceOutput, error) {
		si, err := serviceInputOf(in.RawBody)
		if err != nil {
			return nil, err
		}
		svc, err := s.portal.CreateService(ctx, principalFrom(ctx), si)
		if err != nil {
			return nil, err
		}
		return &serviceOutput{Body: serviceRead(svc)}, nil
	})

	type validateInput struct {
		RawBody []byte
		Body    struct {
			FormSchemaJSON  any `json:"form_schema_json" doc:"The form: a FormSchemaJSON object, or a string holding its text as typed."`
			RunTemplateJSON any `json:"run_template_json,omitempty" doc:"The run template: a RunTemplateJSON object, or a string holding its text; absent or null is {}."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "validate-service-documents", Method: http.MethodPost, Path: APIPrefix + "/services/validate", Tags: []string{tagPortal},
		Summary: "Check a form and run template without saving",
		Description: "Runs the checks that creating or editing a service runs on `form_schema_json` and `run_template_json`, and saves nothing. " +
			"A document sent as a string is checked as the text of the document, so that text that is not JSON gets the message a save would give. " +
			"An error (400) names the document in `errors[0].field`.",
		Errors: []int{http.StatusBadRequest},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *validateInput) (*messageOutput, error) {
		m, err := fields(in.RawBody)
		if err != nil {
			return nil, err
		}
		if err := s.portal.CheckDocuments(ctx, principalFrom(ctx), documentText(m["form_schema_json"]), documentText(m["run_template_json"])); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "The form and the run template are valid."}}, nil
	})

	type listServicesInput struct {
		DomainID    string `query:"domain_id"`
		EnabledOnly bool   `query:"enabled_only" default:"false"`
		Skip        int    `query:"skip" minimum:"0" default:"0"`
		Limit       int    `query:"limit" minimum:"1" maximum:"200" default:"100"`
	}
	register(s, protect(huma.Operation{
		OperationID: "list-services", Method: http.MethodGet, Path: APIPrefix + "/services", Tags: []string{tagPortal},
		Summary: "Portal services, newest first",
	}, string(hub.PermServiceRead)), false, func(ctx context.Context, in *listServicesInput) (*servicesBody, error) {
		list, err := s.portal.ListServices(ctx, principalFrom(ctx), hub.ServiceFilter{DomainID: in.DomainID, EnabledOnly: in.EnabledOnly, Page: hub.Page{Skip: in.Skip, Limit: in.Limit}})
		if err != nil {
			return nil, err
		}
		return servicesOut(list), nil
	})

	type servicePath struct {
		ServiceID string `path:"service_id"`
	}
	register(s, protect(huma.Operation{
		OperationID: "get-service", Method: http.MethodGet, Path: APIPrefix + "/services/{service_id}", Tags: []string{tagPortal},
		Summary: "One portal service", Errors: []int{http.StatusNotFound},
	}, string(hub.PermServiceRead)), false, func(ctx context.Context, in *servicePath) (*serviceOutput, error) {
		svc, err := s.portal.GetService(ctx, principalFrom(ctx), in.ServiceID)
		if err != nil {
			return nil, err
		}
		return &serviceOutput{Body: serviceRead(svc)}, nil
	})

	type patchServiceInput struct {
		ServiceID string `path:"service_id"`
		RawBody   []byte
		Body      serviceBody
	}
	register(s, protect(huma.Operation{
		OperationID: "update-service", Method: http.MethodPatch, Path: APIPrefix + "/services/{service_id}", Tags: []string{tagPortal},
		Summary: "Edit a portal service (only the fields sent)", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *patchServiceInput) (*serviceOutput, error) {
		si, err := serviceInputOf(in.RawBody)
		if err != nil {
			return nil, err
		}
		svc, err := s.portal.UpdateService(ctx, principalFrom(ctx), in.ServiceID, si)
		if err != nil {
			return nil, err
		}
		return &serviceOutput{Body: serviceRead(svc)}, nil
	})

	register(s, protect(huma.Operation{
		OperationID: "delete-service", Method: http.MethodDelete, Path: APIPrefix + "/services/{service_id}", Tags: []string{tagPortal},
		Summary: "Delete a service that never ran", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceManage)), false, func(ctx context.Context, in *servicePath) (*messageOutput, error) {
		if err := s.portal.DeleteService(ctx, principalFrom(ctx), in.ServiceID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Service removed successfully."}}, nil
	})

	type runServiceInput struct {
		ServiceID string `path:"service_id"`
		RawBody   []byte
		Body      struct {
			Parameters map[string]any `json:"parameters,omitempty" doc:"Form values by field key."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "run-service", Method: http.MethodPost, Path: APIPrefix + "/services/{service_id}/run", Tags: []string{tagPortal},
		Summary:       "Run a service with form values",
		Description:   "Values are validated and coerced by the form, rendered into arguments and environment by the run template (each value one argument, never through a shell), and a run is queued. Needs `service.run`, and `robot.run` on the service's robot.",
		DefaultStatus: http.StatusAccepted, Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermServiceRun)), false, func(ctx context.Context, in *runServiceInput) (*runOutput, error) {
		var body struct {
			Parameters map[string]any `json:"parameters"`
		}
		dec := json.NewDecoder(bytes.NewReader(in.RawBody))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
		}
		r, err := s.portal.Run(ctx, principalFrom(ctx), in.ServiceID, body.Parameters)
		if err != nil {
			return nil, err
		}
		return &runOutput{Body: runRead(r)}, nil
	})

	type serviceRunsInput struct {
		ServiceID string `path:"service_id"`
		Limit     int    `query:"limit" minimum:"1" maximum:"200" default:"20"`
	}
	type runsOutput struct {
		Body []RunRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-service-runs", Method: http.MethodGet, Path: APIPrefix + "/services/{service_id}/runs", Tags: []string{tagPortal},
		Summary: "A service's runs, newest first", Errors: []int{http.StatusNotFound},
	}, string(hub.PermRunRead)), false, func(ctx context.Context, in *serviceRunsInput) (*runsOutput, error) {
		list, err := s.portal.Runs(ctx, principalFrom(ctx), in.ServiceID, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &runsOutput{Body: make([]RunRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, runRead(&list[i]))
		}
		return out, nil
	})
}

// documentText is a document sent as JSON, or the text inside a JSON string.
func documentText(v json.RawMessage) []byte {
	var text string
	if bytes.HasPrefix(bytes.TrimSpace(v), []byte(`"`)) && json.Unmarshal(v, &text) == nil {
		return []byte(text)
	}
	return v
}

type servicesBody struct {
	Body []ServiceRead
}

func servicesOut(list []hub.Service) *servicesBody {
	out := &servicesBody{Body: make([]ServiceRead, 0, len(list))}
	for i := range list {
		out.Body = append(out.Body, serviceRead(&list[i]))
	}
	return out
}
