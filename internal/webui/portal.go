package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

type domain struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Description *string `json:"description"`
}

type service struct {
	ID          string          `json:"id"`
	DomainID    string          `json:"domain_id"`
	RobotID     string          `json:"robot_id"`
	Title       string          `json:"title"`
	Description *string         `json:"description"`
	Icon        *string         `json:"icon"`
	Enabled     bool            `json:"enabled"`
	FormSchema  json.RawMessage `json:"form_schema_json"`
}

// formField is one field of a service form, as the API returns it.
type formField struct {
	Key        string          `json:"key"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Required   bool            `json:"required"`
	Default    json.RawMessage `json:"default"`
	HelpText   *string         `json:"helpText"`
	Validation *struct {
		Min   *float64 `json:"min"`
		Max   *float64 `json:"max"`
		Regex *string  `json:"regex"`
	} `json:"validation"`
	Options []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`

	// Filled for rendering.
	Value   string
	Checked bool
	Error   string
}

// Pattern is the regex as an HTML pattern attribute (whole-value match).
func (f formField) Pattern() string {
	if f.Validation == nil || f.Validation.Regex == nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(*f.Validation.Regex, "^"), "$")
}

// Bound formats validation.min/max for attributes ("" when unset).
func (f formField) Bound(which string) string {
	if f.Validation == nil {
		return ""
	}
	v := f.Validation.Min
	if which == "max" {
		v = f.Validation.Max
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(*v)
}

func parseFields(raw json.RawMessage) []formField {
	var schema struct {
		Fields []formField `json:"fields"`
	}
	_ = json.Unmarshal(raw, &schema)
	for i := range schema.Fields {
		f := &schema.Fields[i]
		if len(f.Default) == 0 || string(f.Default) == "null" {
			continue
		}
		var b bool
		if f.Type == "checkbox" && json.Unmarshal(f.Default, &b) == nil {
			f.Checked = b
			continue
		}
		var s string
		if json.Unmarshal(f.Default, &s) == nil {
			f.Value = s
		} else {
			f.Value = string(f.Default)
		}
	}
	return schema.Fields
}

func (u *UI) portalHome(q *request) error {
	if !q.me.Can("service.read") {
		// Users without the portal start where they can do something.
		for _, p := range []struct{ perm, path string }{{"run.read", "/runs"}, {"robot.read", "/robots"}, {"admin.manage", "/admin/users"}} {
			if q.me.Can(p.perm) {
				http.Redirect(q.w, q.r, p.path, http.StatusSeeOther)
				return nil
			}
		}
		u.render(q, http.StatusOK, "portal", map[string]any{"NoAccess": true})
		return nil
	}
	var domains []domain
	if err := q.call(http.MethodGet, "/domains?limit=200", nil, &domains); err != nil {
		return err
	}
	u.render(q, http.StatusOK, "portal", map[string]any{"Domains": domains})
	return nil
}

func (u *UI) portalDomain(q *request) error {
	slug := q.r.PathValue("slug")
	var services []service
	if err := q.call(http.MethodGet, "/domains/"+url.PathEscape(slug)+"/services", nil, &services); err != nil {
		return err
	}
	var domains []domain
	if err := q.call(http.MethodGet, "/domains?limit=200", nil, &domains); err != nil {
		return err
	}
	var d *domain
	for i := range domains {
		if domains[i].Slug == slug {
			d = &domains[i]
		}
	}
	if d == nil {
		return &apiError{Status: http.StatusNotFound, Detail: "Domain not found."}
	}
	u.render(q, http.StatusOK, "domain", map[string]any{"Domain": d, "Services": services})
	return nil
}

type formView struct {
	Service *service
	Fields  []formField
	Error   string
	CanRun  bool
}

func (u *UI) loadService(q *request) (*service, error) {
	var s service
	if err := q.call(http.MethodGet, "/services/"+url.PathEscape(q.r.PathValue("id")), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (u *UI) serviceForm(q *request) error {
	s, err := u.loadService(q)
	if err != nil {
		return err
	}
	u.render(q, http.StatusOK, "service", formView{Service: s, Fields: parseFields(s.FormSchema), CanRun: q.me.Can("service.run")})
	return nil
}

// fieldRef finds the field a server message names ("Field 'Periodo' …").
var fieldRef = regexp.MustCompile(`^Field '([^']+)'`)

func (u *UI) serviceSubmit(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 1<<20)
	s, err := u.loadService(q)
	if err != nil {
		return err
	}
	fields := parseFields(s.FormSchema)
	params := map[string]any{}
	for i := range fields {
		f := &fields[i]
		v := q.r.PostFormValue(f.Key)
		switch f.Type {
		case "checkbox":
			f.Checked = v != ""
			params[f.Key] = f.Checked
		case "number":
			f.Value = v
			if strings.TrimSpace(v) != "" {
				params[f.Key] = json.Number(strings.TrimSpace(v))
				if !json.Valid([]byte(strings.TrimSpace(v))) {
					params[f.Key] = v // the API explains what is wrong
				}
			}
		default:
			f.Value = v
			if v != "" {
				params[f.Key] = v
			}
		}
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	err = q.call(http.MethodPost, "/services/"+url.PathEscape(s.ID)+"/run", map[string]any{"parameters": params}, &run)
	if err == nil {
		http.Redirect(q.w, q.r, "/runs/"+run.RunID, http.StatusSeeOther)
		return nil
	}
	ae, ok := asAPIError(err)
	if !ok || (ae.Status != http.StatusBadRequest && ae.Status != http.StatusUnprocessableEntity) {
		return err
	}
	view := formView{Service: s, Fields: fields, CanRun: q.me.Can("service.run"), Error: ae.Detail}
	if m := fieldRef.FindStringSubmatch(ae.Detail); m != nil {
		for i := range view.Fields {
			if view.Fields[i].Key == m[1] || view.Fields[i].Label == m[1] {
				view.Fields[i].Error = ae.Detail
				view.Error = ""
			}
		}
	}
	u.render(q, http.StatusBadRequest, "service", view)
	return nil
}
