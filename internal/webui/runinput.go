package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"automationhub/internal/hub"
)

// maxRunTimeout is the API's upper bound of timeout_seconds (7 days), also
// given to the browser as the field's max.
const maxRunTimeout = 7 * 24 * 3600

// runInputForm is the "Run with input" form of the robot page as typed, and
// what became of it: its errors, or the input awaiting confirmation.
type runInputForm struct {
	Arguments, Env, Timeout string
	// Errors are messages by field ("arguments", "env", "timeout"); Error
	// is one that belongs to no field.
	Errors map[string]string
	Error  string
	// Review is the parsed input shown for confirmation (nil: editing).
	Review *runInput
	// MaxTimeout is the largest time limit the API accepts.
	MaxTimeout int
}

// Open reports whether the form shows unfolded: it holds input or errors.
func (f *runInputForm) Open() bool {
	return f.Arguments != "" || f.Env != "" || f.Timeout != "" || f.Error != "" || len(f.Errors) > 0
}

// runInput is the input of one run as the execute route takes it.
type runInput struct {
	Args    []string
	Env     map[string]string
	Timeout int // 0: the hub's default
}

// envVar is one variable of a run's environment.
type envVar struct{ Name, Value string }

// EnvShown is the environment as the review shows it, sorted by name, with
// the values of secret-looking names masked as the API masks them on runs.
func (in runInput) EnvShown() []envVar {
	out := make([]envVar, 0, len(in.Env))
	for k, v := range hub.MaskSecrets(in.Env) {
		out = append(out, envVar{k, v})
	}
	slices.SortFunc(out, func(a, b envVar) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// body is the execute request (empty for a run without input).
func (in runInput) body() map[string]any {
	b := map[string]any{}
	if len(in.Args) > 0 {
		b["runtime_arguments"] = in.Args
	}
	if len(in.Env) > 0 {
		b["runtime_env"] = in.Env
	}
	if in.Timeout > 0 {
		b["timeout_seconds"] = in.Timeout
	}
	return b
}

// eachLine calls each for every line of a textarea (browsers send CRLF)
// that is not blank, with its number from 1.
func eachLine(text string, each func(n int, line string)) {
	for i, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			each(i+1, l)
		}
	}
}

// parse reads the form: one argument per line, exactly as typed; KEY=VALUE
// lines (the name trimmed, the value as typed); a whole number of seconds.
// Names are checked by the API, which knows which ones a run may set.
func (f *runInputForm) parse(tr translator) (runInput, bool) {
	in := runInput{Args: []string{}, Env: map[string]string{}}
	eachLine(f.Arguments, func(_ int, l string) { in.Args = append(in.Args, l) })
	eachLine(f.Env, func(n int, l string) {
		if f.Errors["env"] != "" {
			return // the first wrong line is shown
		}
		k, v, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		_, dup := in.Env[k]
		switch {
		case !ok || k == "":
			f.Errors["env"] = tr.T("runinput.err_line", n)
		case dup:
			f.Errors["env"] = tr.T("runinput.err_twice", n, k)
		default:
			in.Env[k] = v
		}
	})
	if t := strings.TrimSpace(f.Timeout); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxRunTimeout {
			f.Errors["timeout"] = tr.T("runinput.err_timeout", maxRunTimeout)
		}
		in.Timeout = n
	}
	return in, len(f.Errors) == 0
}

// runInputAPIFields are the execute request's fields by the form field they come from.
var runInputAPIFields = []struct{ api, field string }{
	{"runtime_arguments", "arguments"}, {"runtime_env", "env"}, {"timeout_seconds", "timeout"},
}

// refused puts an API refusal next to the field it names, or above the form.
func (f *runInputForm) refused(tr translator, ae *apiError) {
	msg, fields := tr.apiFormError(ae)
	for _, m := range runInputAPIFields {
		if fm, ok := fields[m.api]; ok {
			f.Errors[m.field] = fm
			return
		}
		if strings.Contains(ae.Detail, m.api) {
			f.Errors[m.field] = msg
			return
		}
	}
	f.Error = msg
}

// robotRun starts a run of the robot's active version. The robot's "Run
// now" button sends no step and runs at once without input; the "Run with
// input" form goes through a review (step=review), from which the user
// confirms (step=confirm) or goes back to editing (step=edit). Invalid
// input — the form's checks or the API's refusal — is shown next to its
// field and runs nothing.
func (u *UI) robotRun(q *request) error {
	step := q.r.PostFormValue("step")
	f := &runInputForm{Arguments: q.r.PostFormValue("arguments"), Env: q.r.PostFormValue("env"),
		Timeout: q.r.PostFormValue("timeout"), Errors: map[string]string{}}
	in := runInput{}
	if step != "" {
		var ok bool
		if in, ok = f.parse(q.tr); !ok {
			return u.renderRobotWith(q, http.StatusUnprocessableEntity, robotDetailView{RunInput: f})
		}
		switch step {
		case "edit":
			return u.renderRobotWith(q, http.StatusOK, robotDetailView{RunInput: f})
		case "confirm":
		default:
			f.Review = &in
			return u.renderRobotWith(q, http.StatusOK, robotDetailView{RunInput: f})
		}
	}
	id := q.r.PathValue("id")
	var r struct {
		RunID string `json:"run_id"`
	}
	if err := q.call(http.MethodPost, "/runs/"+url.PathEscape(id)+"/execute", in.body(), &r); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		if step == "" {
			return u.renderRobot(q, http.StatusBadRequest, q.tr.API(ae.Detail))
		}
		f.refused(q.tr, ae)
		return u.renderRobotWith(q, ae.Status, robotDetailView{RunInput: f})
	}
	http.Redirect(q.w, q.r, "/runs/"+url.PathEscape(r.RunID), http.StatusSeeOther)
	return nil
}
