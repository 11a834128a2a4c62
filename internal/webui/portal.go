package webui

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type domain struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Description *string `json:"description"`
}

type service struct {
	ID               string          `json:"id"`
	DomainID         string          `json:"domain_id"`
	RobotID          string          `json:"robot_id"`
	Title            string          `json:"title"`
	Description      *string         `json:"description"`
	Icon             *string         `json:"icon"`
	Enabled          bool            `json:"enabled"`
	DefaultVersionID *string         `json:"default_version_id"`
	FormSchema       json.RawMessage `json:"form_schema_json"`
	RunTemplate      json.RawMessage `json:"run_template_json"`
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
		Step  *float64 `json:"step"`
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
	// Hint states the field's rules in the reader's language.
	Hint string
}

// Pattern is the regex as an HTML pattern attribute (whole-value match).
func (f formField) Pattern() string {
	if f.Validation == nil || f.Validation.Regex == nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(*f.Validation.Regex, "^"), "$")
}

// Bound formats validation.min or max ("" when unset) for the min/max
// attributes of numbers.
func (f formField) Bound(which string) string {
	return formatBound(f.bound(which))
}

// Length is validation.min or max as a whole number of characters ("" when
// unset), for minlength/maxlength: the API counts characters against the
// bound itself, so a minimum rounds up and a maximum down.
func (f formField) Length(which string) string {
	b := f.bound(which)
	if b == nil {
		return ""
	}
	n := math.Floor(*b)
	if which == "min" {
		if n = math.Ceil(*b); n <= 0 {
			return "" // no minimum at all
		}
	}
	return formatBound(&n)
}

// Step is the step attribute of number inputs: validation.step, else 1 for
// integers and "any" for numbers.
func (f formField) Step() string {
	if f.Validation != nil && f.Validation.Step != nil {
		return formatBound(f.Validation.Step)
	}
	if f.Type == "integer" {
		return "1"
	}
	return "any"
}

func (f formField) bound(which string) *float64 {
	switch {
	case f.Validation == nil:
		return nil
	case which == "max":
		return f.Validation.Max
	}
	return f.Validation.Min
}

// formatBound prints a number as plain decimal digits ("" for nil).
func formatBound(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// describeRules states a field's rules in words for the hint next to it:
// "Whole number, between 1 and 10", "At least 3 characters", "Format: …".
func describeRules(f formField, tr translator) string {
	var parts []string
	add := func(key string, args ...any) { parts = append(parts, tr.T(key, args...)) }
	v := f.Validation
	switch f.Type {
	case "number", "integer":
		if f.Type == "integer" {
			add("hint.whole")
		}
		lo, hi := f.Bound("min"), f.Bound("max")
		switch {
		case lo != "" && hi != "":
			add("hint.between", lo, hi)
		case lo != "":
			add("hint.at_least", lo)
		case hi != "":
			add("hint.at_most", hi)
		}
		switch {
		case v == nil || v.Step == nil:
		case lo == "" || *v.Min == 0:
			add("hint.multiple", f.Step())
		default:
			add("hint.step_from", f.Step(), lo)
		}
	case "text":
		lo, hi := f.Length("min"), f.Length("max")
		switch {
		case lo != "" && lo == hi:
			add("hint.len_exactly", lo)
		case lo != "" && hi != "":
			add("hint.len_between", lo, hi)
		case lo != "":
			add("hint.len_at_least", lo)
		case hi != "":
			add("hint.len_at_most", hi)
		}
	}
	if v != nil && v.Regex != nil && (f.Type == "text" || f.Type == "date") {
		add("hint.format", *v.Regex)
	}
	hint := strings.Join(parts, ", ")
	if r, size := utf8.DecodeRuneInString(hint); size > 0 {
		hint = string(unicode.ToUpper(r)) + hint[size:]
	}
	return hint
}

// parseFields reads the fields of a form_schema_json for rendering, with
// their defaults as values and their rules in words.
func parseFields(raw json.RawMessage, tr translator) []formField {
	var schema struct {
		Fields []formField `json:"fields"`
	}
	_ = json.Unmarshal(raw, &schema)
	for i := range schema.Fields {
		f := &schema.Fields[i]
		f.Hint = describeRules(*f, tr)
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
		for _, p := range []struct{ perm, path string }{{"run.read", "/dashboard"}, {"robot.read", "/robots"}, {"admin.manage", "/admin/users"}} {
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

func (u *UI) newFormView(q *request, s *service) formView {
	return formView{Service: s, Fields: parseFields(s.FormSchema, q.tr), CanRun: q.me.Can("service.run")}
}

func (u *UI) serviceForm(q *request) error {
	s, err := u.loadService(q)
	if err != nil {
		return err
	}
	u.render(q, http.StatusOK, "service", u.newFormView(q, s))
	return nil
}

func (u *UI) serviceSubmit(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 1<<20)
	s, err := u.loadService(q)
	if err != nil {
		return err
	}
	view := u.newFormView(q, s)
	params := map[string]any{}
	for i := range view.Fields {
		f := &view.Fields[i]
		v := q.r.PostFormValue(f.Key)
		switch f.Type {
		case "checkbox":
			f.Checked = v != ""
			params[f.Key] = f.Checked
		case "number", "integer":
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
	// Each field's message goes next to it; what names no field stays on top.
	keys := make([]string, len(view.Fields))
	for i, f := range view.Fields {
		keys[i] = f.Key
	}
	var at map[string]string
	view.Error, at = q.tr.placeErrors(ae, keys...)
	for i := range view.Fields {
		view.Fields[i].Error = at[view.Fields[i].Key]
	}
	u.render(q, http.StatusBadRequest, "service", view)
	return nil
}
