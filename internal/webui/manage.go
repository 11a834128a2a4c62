package webui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// manageRoutes registers the pages that create and edit the portal's
// domains and services. They are for users with service.manage: others get
// a 403 page, and the API refuses their writes anyway.
func (u *UI) manageRoutes() {
	m := u.mux
	m.Handle("GET /manage", u.page(u.manageHome))
	m.Handle("POST /manage/domains", u.page(u.domainCreate))
	m.Handle("GET /manage/domains/{id}", u.page(u.domainManage))
	m.Handle("POST /manage/domains/{id}", u.page(u.domainUpdate))
	m.Handle("GET /manage/services/new", u.page(u.serviceNew))
	m.Handle("POST /manage/services", u.page(u.serviceCreate))
	m.Handle("GET /manage/services/{id}", u.page(u.serviceEdit))
	m.Handle("POST /manage/services/{id}", u.page(u.serviceUpdate))
	m.Handle("POST /manage/services/{id}/enabled", u.page(u.serviceEnable))
	// htmx fragments of the service editor.
	m.Handle("POST /manage/preview", u.page(u.servicePreview))
	m.Handle("GET /manage/versions", u.page(u.versionOptions))
}

// needManage refuses the management pages to users without service.manage.
func needManage(q *request) error {
	if q.me.Can("service.manage") {
		return nil
	}
	return &apiError{Status: http.StatusForbidden}
}

// robotOptions lists every robot the user may read, by name.
func robotOptions(q *request) ([]option, error) {
	const per = 200 // the API's largest page
	var out []option
	for page := 1; ; page++ {
		var robots struct {
			Items []registryRobot `json:"items"`
			Total int             `json:"total"`
		}
		if err := q.call(http.MethodGet, "/robots?"+newListQuery(page, per).api.Encode(), nil, &robots); err != nil {
			return nil, err
		}
		for _, r := range robots.Items {
			out = append(out, option{r.ID, r.Name})
		}
		if len(robots.Items) < per || len(out) >= robots.Total {
			return out, nil
		}
	}
}

// ---- Domains --------------------------------------------------------------

// domainForm is what a domain form holds (kept on errors).
type domainForm struct{ Name, Slug, Description string }

// domainInputs are the inputs of a domain form, by API name.
var domainInputs = []string{"name", "slug", "description"}

func readDomainForm(r *http.Request) domainForm {
	return domainForm{Name: r.PostFormValue("name"), Slug: r.PostFormValue("slug"), Description: r.PostFormValue("description")}
}

// body is the form as an API body; an empty description clears it.
func (f domainForm) body() map[string]any {
	return map[string]any{"name": strings.TrimSpace(f.Name), "slug": strings.TrimSpace(f.Slug),
		"description": adminOptional(strings.TrimSpace(f.Description))}
}

type manageView struct {
	Domains []domain
	Form    domainForm
	Error   string
	Errors  map[string]string
}

func (u *UI) manageHome(q *request) error { return u.renderManage(q, http.StatusOK, manageView{}) }

func (u *UI) renderManage(q *request, status int, v manageView) error {
	if err := needManage(q); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/domains?limit=200", nil, &v.Domains); err != nil {
		return err
	}
	u.render(q, status, "manage", v)
	return nil
}

func (u *UI) domainCreate(q *request) error {
	form := readDomainForm(q.r)
	var d domain
	if err := q.call(http.MethodPost, "/domains", form.body(), &d); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		v := manageView{Form: form}
		v.Error, v.Errors = q.tr.placeErrors(ae, domainInputs...)
		return u.renderManage(q, ae.Status, v)
	}
	http.Redirect(q.w, q.r, "/manage/domains/"+url.PathEscape(d.ID)+"?saved=1", http.StatusSeeOther)
	return nil
}

type domainManageView struct {
	Domain     domain
	Form       domainForm
	Services   []service
	RobotNames map[string]string
	Saved      bool
	Error      string
	Errors     map[string]string
}

func (u *UI) domainManage(q *request) error { return u.renderDomainManage(q, http.StatusOK, nil) }

// renderDomainManage shows a domain's page; edit adjusts the view (typed
// values, errors) before it is rendered.
func (u *UI) renderDomainManage(q *request, status int, edit func(v *domainManageView)) error {
	if err := needManage(q); err != nil {
		return err
	}
	id := url.PathEscape(q.r.PathValue("id"))
	v := domainManageView{Saved: q.r.URL.Query().Get("saved") != "", RobotNames: map[string]string{}}
	if err := q.call(http.MethodGet, "/domains/"+id, nil, &v.Domain); err != nil {
		return err
	}
	v.Form = domainForm{Name: v.Domain.Name, Slug: v.Domain.Slug, Description: adminText(v.Domain.Description)}
	if err := q.call(http.MethodGet, "/services?limit=200&domain_id="+id, nil, &v.Services); err != nil {
		return err
	}
	robots, err := robotOptions(q)
	if err != nil {
		return err
	}
	for _, r := range robots {
		v.RobotNames[r.Value] = r.Label
	}
	if edit != nil {
		edit(&v)
	}
	u.render(q, status, "manage_domain", v)
	return nil
}

func (u *UI) domainUpdate(q *request) error {
	form := readDomainForm(q.r)
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPatch, "/domains/"+url.PathEscape(id), form.body(), nil); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		return u.renderDomainManage(q, ae.Status, func(v *domainManageView) {
			v.Form, v.Saved = form, false
			v.Error, v.Errors = q.tr.placeErrors(ae, domainInputs...)
		})
	}
	http.Redirect(q.w, q.r, "/manage/domains/"+url.PathEscape(id)+"?saved=1", http.StatusSeeOther)
	return nil
}

// ---- Services -------------------------------------------------------------

// serviceForm is what the service editor holds (kept on errors).
type serviceForm struct {
	Title, Description, Icon     string
	DomainID, RobotID, VersionID string
	Enabled                      bool
	FormSchema, RunTemplate      string
}

// serviceInputs are the inputs of the service editor, by API name.
var serviceInputs = []string{"title", "description", "icon", "domain_id", "robot_id", "default_version_id", "enabled",
	"form_schema_json", "run_template_json"}

func readServiceForm(r *http.Request) serviceForm {
	return serviceForm{Title: r.PostFormValue("title"), Description: r.PostFormValue("description"), Icon: r.PostFormValue("icon"),
		DomainID: r.PostFormValue("domain_id"), RobotID: r.PostFormValue("robot_id"), VersionID: r.PostFormValue("default_version_id"),
		Enabled: r.PostFormValue("enabled") != "", FormSchema: r.PostFormValue("form_schema_json"), RunTemplate: r.PostFormValue("run_template_json")}
}

// runTemplate is the run template's text; blank is {}.
func (f serviceForm) runTemplate() string {
	if strings.TrimSpace(f.RunTemplate) == "" {
		return "{}"
	}
	return f.RunTemplate
}

// body is the form as an API body. The documents must have been checked
// (they are sent as JSON); empty optional texts clear their field.
func (f serviceForm) body() map[string]any {
	return map[string]any{"title": strings.TrimSpace(f.Title), "description": adminOptional(strings.TrimSpace(f.Description)),
		"icon": adminOptional(strings.TrimSpace(f.Icon)), "domain_id": f.DomainID, "robot_id": f.RobotID,
		"default_version_id": adminOptional(f.VersionID), "enabled": f.Enabled,
		"form_schema_json": json.RawMessage(f.FormSchema), "run_template_json": json.RawMessage(f.runTemplate())}
}

// serviceEditor is the service editor page, and its preview fragment.
type serviceEditor struct {
	// ID is the service's, "" while creating one.
	ID                        string
	Form                      serviceForm
	Domains, Robots, Versions []option
	// Fields is the preview of the form, shown when Valid.
	Fields []formField
	Valid  bool
	Saved  bool
	Error  string
	Errors map[string]string
}

// docError is the message next to one of the editor's JSON documents.
type docError struct{ Name, Message string }

// DocError is the message next to the named document ("" when valid).
func (v serviceEditor) DocError(name string) docError { return docError{name, v.Errors[name]} }

// DomainName is the name of the domain the form names.
func (v serviceEditor) DomainName() string {
	for _, d := range v.Domains {
		if d.Value == v.Form.DomainID {
			return d.Label
		}
	}
	return ""
}

// checkDocuments asks the API whether the editor's documents are valid
// (the checks a save runs, saving nothing) and fills the preview: the
// form's fields, or each document's error next to it.
func (u *UI) checkDocuments(q *request, v *serviceEditor) error {
	err := q.call(http.MethodPost, "/services/validate",
		map[string]any{"form_schema_json": v.Form.FormSchema, "run_template_json": v.Form.runTemplate()}, nil)
	if err == nil {
		v.Valid, v.Fields = true, parseFields(json.RawMessage(v.Form.FormSchema), q.tr)
		return nil
	}
	ae, ok := formError(err)
	if !ok {
		return err
	}
	v.Error, v.Errors = q.tr.placeErrors(ae, serviceInputs...)
	return nil
}

// versionOptionsOf lists a robot's versions ("" robot: none).
func versionOptionsOf(q *request, robotID string) ([]option, error) {
	if robotID == "" {
		return nil, nil
	}
	var versions []registryVersion
	if err := q.call(http.MethodGet, "/robots/"+url.PathEscape(robotID)+"/versions", nil, &versions); err != nil {
		return nil, err
	}
	out := make([]option, 0, len(versions))
	for _, ver := range versions {
		label := ver.Version + " · " + ver.Channel
		if ver.IsActive {
			label = q.tr.T("manage.version_is_active", label)
		}
		out = append(out, option{ver.ID, label})
	}
	return out, nil
}

// renderEditor shows the service editor with its choices loaded.
func (u *UI) renderEditor(q *request, status int, v serviceEditor) error {
	if err := needManage(q); err != nil {
		return err
	}
	var domains []domain
	if err := q.call(http.MethodGet, "/domains?limit=200", nil, &domains); err != nil {
		return err
	}
	for _, d := range domains {
		v.Domains = append(v.Domains, option{d.ID, d.Name})
	}
	var err error
	if v.Robots, err = robotOptions(q); err != nil {
		return err
	}
	if v.Versions, err = versionOptionsOf(q, v.Form.RobotID); err != nil {
		return err
	}
	u.render(q, status, "manage_service", v)
	return nil
}

// Starting documents of a new service: a form without fields, a template
// without arguments.
const (
	newFormSchema  = "{\n  \"fields\": []\n}"
	newRunTemplate = "{\n  \"mapping\": {\n    \"runtime_arguments\": []\n  }\n}"
)

func (u *UI) serviceNew(q *request) error {
	if err := needManage(q); err != nil {
		return err
	}
	v := serviceEditor{Form: serviceForm{DomainID: q.r.URL.Query().Get("domain_id"), Enabled: true,
		FormSchema: newFormSchema, RunTemplate: newRunTemplate}}
	if err := u.checkDocuments(q, &v); err != nil {
		return err
	}
	return u.renderEditor(q, http.StatusOK, v)
}

// indentJSON pretty-prints a stored document for editing.
func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func (u *UI) serviceEdit(q *request) error {
	if err := needManage(q); err != nil {
		return err
	}
	s, err := u.loadService(q)
	if err != nil {
		return err
	}
	v := serviceEditor{ID: s.ID, Saved: q.r.URL.Query().Get("saved") != "", Form: serviceForm{
		Title: s.Title, Description: adminText(s.Description), Icon: adminText(s.Icon),
		DomainID: s.DomainID, RobotID: s.RobotID, VersionID: adminText(s.DefaultVersionID), Enabled: s.Enabled,
		FormSchema: indentJSON(s.FormSchema), RunTemplate: indentJSON(s.RunTemplate)}}
	if err := u.checkDocuments(q, &v); err != nil {
		return err
	}
	return u.renderEditor(q, http.StatusOK, v)
}

// saveService checks the editor's documents, then creates (id "") or edits
// the service; it shows the editor again with the errors, or goes to the
// saved service's editor.
func (u *UI) saveService(q *request, id string) error {
	v := serviceEditor{ID: id, Form: readServiceForm(q.r)}
	if err := u.checkDocuments(q, &v); err != nil {
		return err
	}
	if !v.Valid {
		return u.renderEditor(q, http.StatusBadRequest, v)
	}
	var saved service
	var err error
	if id == "" {
		err = q.call(http.MethodPost, "/services", v.Form.body(), &saved)
	} else {
		err = q.call(http.MethodPatch, "/services/"+url.PathEscape(id), v.Form.body(), &saved)
	}
	if err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		v.Error, v.Errors = q.tr.placeErrors(ae, serviceInputs...)
		return u.renderEditor(q, ae.Status, v)
	}
	http.Redirect(q.w, q.r, "/manage/services/"+url.PathEscape(saved.ID)+"?saved=1", http.StatusSeeOther)
	return nil
}

func (u *UI) serviceCreate(q *request) error { return u.saveService(q, "") }

func (u *UI) serviceUpdate(q *request) error { return u.saveService(q, q.r.PathValue("id")) }

// serviceEnable enables or disables a service from its domain's page.
func (u *UI) serviceEnable(q *request) error {
	var s service
	body := map[string]any{"enabled": q.r.PostFormValue("enabled") == "true"}
	if err := q.call(http.MethodPatch, "/services/"+url.PathEscape(q.r.PathValue("id")), body, &s); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/manage/domains/"+url.PathEscape(s.DomainID), http.StatusSeeOther)
	return nil
}

// servicePreview answers the editor's live check (htmx): the preview of the
// form, and the error next to each document. Invalid documents are a normal
// answer here (200), so that the page shows them.
func (u *UI) servicePreview(q *request) error {
	v := serviceEditor{Form: readServiceForm(q.r)}
	if err := u.checkDocuments(q, &v); err != nil {
		return err
	}
	u.renderBlock(q, http.StatusOK, "manage_service", "preview-update", v)
	return nil
}

// versionOptions answers the editor's robot picker (htmx): the chosen
// robot's versions as the options of the version picker.
func (u *UI) versionOptions(q *request) error {
	if err := needManage(q); err != nil {
		return err
	}
	versions, err := versionOptionsOf(q, q.r.URL.Query().Get("robot_id"))
	if err != nil {
		return err
	}
	u.renderBlock(q, http.StatusOK, "manage_service", "version-options", serviceEditor{Versions: versions})
	return nil
}
