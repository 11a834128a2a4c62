package portal_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/portal"
)

// seedSchema and seedTemplate are the portal example of BEHAVIOUR.md 4.6,
// with a field default for periodo.
const (
	seedSchema = `{"fields":[
		{"key":"periodo","label":"Periodo","type":"text","required":true,
		 "validation":{"regex":"^\\d{4}-\\d{2}$"},"default":"2026-02"},
		{"key":"incluir_inativos","label":"Incluir Inativos","type":"checkbox","default":false}]}`
	seedTemplate = `{"defaults":{"incluir_inativos":false},
		"mapping":{"runtime_arguments":["--periodo={periodo}","--inativos={incluir_inativos}"],
		"runtime_env":{"SERVICE_DOMAIN":"dp-rh"}}}`
)

func mustSchema(t *testing.T, raw string) *portal.FormSchema {
	t.Helper()
	s, err := portal.ParseFormSchema([]byte(raw))
	if err != nil {
		t.Fatalf("ParseFormSchema(%s): %v", raw, err)
	}
	return s
}

func mustTemplate(t *testing.T, raw string, s *portal.FormSchema) *portal.RunTemplate {
	t.Helper()
	tmpl, err := portal.ParseRunTemplate([]byte(raw), s)
	if err != nil {
		t.Fatalf("ParseRunTemplate(%s): %v", raw, err)
	}
	return tmpl
}

// params decodes a JSON object as the HTTP handler does (UseNumber).
func params(t *testing.T, raw string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if k := hub.ErrorKind(err); k != hub.EInvalid {
		t.Fatalf("got kind %q (%v), want %q", k, err, hub.EInvalid)
	}
	if got := hub.ErrorMessage(err); got != want {
		t.Fatalf("got message %q, want %q", got, want)
	}
}

func resolveRender(t *testing.T, schemaRaw, tmplRaw, paramsRaw string) (map[string]any, []string, map[string]string, error) {
	t.Helper()
	s := mustSchema(t, schemaRaw)
	tmpl := mustTemplate(t, tmplRaw, s)
	resolved, err := portal.Resolve(s, tmpl, params(t, paramsRaw))
	if err != nil {
		return nil, nil, nil, err
	}
	args, env, _, err := portal.Render(tmpl, resolved)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return resolved, args, env, nil
}

func TestSeedExample(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, seedSchema)
	tmpl := mustTemplate(t, seedTemplate, s)

	t.Run("submitted", func(t *testing.T) {
		resolved, err := portal.Resolve(s, tmpl, params(t, `{"periodo":"2026-02"}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]any{"periodo": "2026-02", "incluir_inativos": false}; !reflect.DeepEqual(resolved, want) {
			t.Fatalf("resolved: got %#v, want %#v", resolved, want)
		}
		args, env, envName, err := portal.Render(tmpl, resolved)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"--periodo=2026-02", "--inativos=false"}; !reflect.DeepEqual(args, want) {
			t.Fatalf("args: got %q, want %q", args, want)
		}
		if want := map[string]string{"SERVICE_DOMAIN": "dp-rh"}; !reflect.DeepEqual(env, want) {
			t.Fatalf("env: got %v, want %v", env, want)
		}
		if envName != "PROD" {
			t.Fatalf("env name: got %q, want PROD", envName)
		}
		// parameters_json is stored as JSON.
		b, err := json.Marshal(resolved)
		if err != nil || string(b) != `{"incluir_inativos":false,"periodo":"2026-02"}` {
			t.Fatalf("parameters_json: got %s (%v)", b, err)
		}
	})
	t.Run("field default", func(t *testing.T) {
		resolved, err := portal.Resolve(s, tmpl, params(t, `{}`))
		if err != nil {
			t.Fatal(err)
		}
		if resolved["periodo"] != "2026-02" {
			t.Fatalf("periodo: got %#v, want the field default", resolved["periodo"])
		}
	})
	t.Run("blank required", func(t *testing.T) {
		_, err := portal.Resolve(s, tmpl, params(t, `{"periodo":""}`))
		checkErr(t, err, "Field 'Periodo' is required.")
	})
	t.Run("bad format", func(t *testing.T) {
		_, err := portal.Resolve(s, tmpl, params(t, `{"periodo":"2026-2"}`))
		checkErr(t, err, "Field 'Periodo' has invalid format.")
	})
	t.Run("no default", func(t *testing.T) {
		s := mustSchema(t, strings.Replace(seedSchema, `,"default":"2026-02"`, "", 1))
		_, err := portal.Resolve(s, mustTemplate(t, seedTemplate, s), params(t, `{}`))
		checkErr(t, err, "Field 'Periodo' is required.")
	})
}

func TestParseFormSchemaErrors(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	field := func(extra string) string {
		return `{"fields":[{"key":"a","label":"A","type":"text"` + extra + `}]}`
	}
	tests := []struct{ name, raw, want string }{
		{"not json", `{`, "form_schema_json must be valid JSON."},
		{"trailing data", `{} {}`, "form_schema_json must be valid JSON."},
		{"array", `[]`, "form_schema_json must be a JSON object."},
		{"null", `null`, "form_schema_json must be a JSON object."},
		{"string", `"x"`, "form_schema_json must be a JSON object."},
		{"fields object", `{"fields":{}}`, "fields must be an array."},
		{"field not object", `{"fields":[1]}`, "fields[0] must be an object."},
		{"key missing", `{"fields":[{"label":"A","type":"text"}]}`, "fields[0].key is required."},
		{"key number", `{"fields":[{"key":5,"label":"A","type":"text"}]}`, "fields[0].key must be a string."},
		{"key empty", `{"fields":[{"key":"","label":"A","type":"text"}]}`, "fields[0].key must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"key digit first", `{"fields":[{"key":"1a","label":"A","type":"text"}]}`, "fields[0].key must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"key dash", `{"fields":[{"key":"a-b","label":"A","type":"text"}]}`, "fields[0].key must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"key too long", `{"fields":[{"key":"` + long(81) + `","label":"A","type":"text"}]}`, "fields[0].key must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"label missing", `{"fields":[{"key":"a","type":"text"}]}`, "Field 'a': label is required."},
		{"label number", `{"fields":[{"key":"a","label":1,"type":"text"}]}`, "Field 'a': label must be a string."},
		{"label empty", `{"fields":[{"key":"a","label":"","type":"text"}]}`, "Field 'a': label must be 1 to 120 characters."},
		{"label too long", `{"fields":[{"key":"a","label":"` + long(121) + `","type":"text"}]}`, "Field 'a': label must be 1 to 120 characters."},
		{"type missing", `{"fields":[{"key":"a","label":"A"}]}`, "Field 'a': type is required."},
		{"type number", `{"fields":[{"key":"a","label":"A","type":1}]}`, "Field 'a': type must be a string."},
		{"type unknown", `{"fields":[{"key":"a","label":"A","type":"email"}]}`, "Field 'a' has unknown type 'email'; type must be one of: text, number, integer, date, select, checkbox."},
		{"required string", field(`,"required":"yes"`), "Field 'a': required must be true or false."},
		{"required null", field(`,"required":null`), "Field 'a': required must be true or false."},
		{"helpText number", field(`,"helpText":5`), "Field 'a': helpText must be a string or null."},
		{"helpText too long", field(`,"helpText":"` + long(501) + `"`), "Field 'a': helpText must be at most 500 characters."},
		{"validation string", field(`,"validation":"x"`), "Field 'a': validation must be an object or null."},
		{"min string", field(`,"validation":{"min":"1"}`), "Field 'a': validation.min must be a finite number or null."},
		{"max bool", field(`,"validation":{"max":true}`), "Field 'a': validation.max must be a finite number or null."},
		{"min overflow", field(`,"validation":{"min":1e400}`), "Field 'a': validation.min must be a finite number or null."},
		{"min greater than max", field(`,"validation":{"min":5,"max":1}`), "validation.min cannot be greater than validation.max."},
		{"regex number", field(`,"validation":{"regex":5}`), "Field 'a': validation.regex must be a string or null."},
		{"regex too long", field(`,"validation":{"regex":"` + long(1001) + `"}`), "Field 'a': validation.regex must be at most 1000 characters."},
		{"regex unclosed", field(`,"validation":{"regex":"(a"}`), "Field 'a' has an invalid validation.regex: missing closing ): `(a`."},
		{"regex lookbehind", field(`,"validation":{"regex":"(?<=a)b"}`), "Field 'a' has an invalid validation.regex: invalid named capture: `(?<=a)b`."},
		{"regex backreference", field(`,"validation":{"regex":"(a)\\1"}`), "Field 'a' has an invalid validation.regex: invalid escape sequence: `\\1`."},
		{"regex escaping the anchors", field(`,"validation":{"regex":"a)|(b"}`), "Field 'a' has an invalid validation.regex: unexpected ): `a)|(b`."},
		{"options string", field(`,"options":"x"`), "Field 'a': options must be an array or null."},
		{"option not object", `{"fields":[{"key":"s","label":"S","type":"select","options":[1]}]}`, "Field 's': options[0] must be an object."},
		{"option label empty", `{"fields":[{"key":"s","label":"S","type":"select","options":[{"label":"","value":"v"}]}]}`, "Field 's': options[0].label must be a string of 1 to 120 characters."},
		{"option value missing", `{"fields":[{"key":"s","label":"S","type":"select","options":[{"label":"L"}]}]}`, "Field 's': options[0].value must be a string of 1 to 120 characters."},
		{"option value too long", `{"fields":[{"key":"s","label":"S","type":"select","options":[{"label":"L","value":"` + long(121) + `"}]}]}`, "Field 's': options[0].value must be a string of 1 to 120 characters."},
		{"option value NUL", `{"fields":[{"key":"s","label":"S","type":"select","options":[{"label":"L","value":"a\u0000"}]}]}`, "Field 's': options[0].value must not contain NUL characters."},
		{"select without options", `{"fields":[{"key":"s","label":"S","type":"select"}]}`, "Field 's' of type 'select' requires non-empty options."},
		{"select null options", `{"fields":[{"key":"s","label":"S","type":"select","options":null}]}`, "Field 's' of type 'select' requires non-empty options."},
		{"select empty options", `{"fields":[{"key":"s","label":"S","type":"select","options":[]}]}`, "Field 's' of type 'select' requires non-empty options."},
		{"text with options", field(`,"options":[{"label":"L","value":"v"}]`), "Field 'a' only supports options when type is 'select'."},
		{"duplicate key", `{"fields":[{"key":"a","label":"A","type":"text"},{"key":"a","label":"B","type":"number"}]}`, "Duplicate field key 'a' in form schema."},
		{"default wrong type", `{"fields":[{"key":"n","label":"N","type":"number","default":"abc"}]}`, "Field 'n' has an invalid default: Field 'n' must be a number."},
		{"default below min", `{"fields":[{"key":"n","label":"N","type":"number","default":0,"validation":{"min":1}}]}`, "Field 'n' has an invalid default: Field 'N' must be >= 1."},
		{"default bad format", `{"fields":[{"key":"p","label":"Periodo","type":"text","default":"2026-2","validation":{"regex":"^\\d{4}-\\d{2}$"}}]}`, "Field 'p' has an invalid default: Field 'Periodo' has invalid format."},
		{"default not an option", `{"fields":[{"key":"s","label":"S","type":"select","default":"z","options":[{"label":"A","value":"a"}]}]}`, "Field 's' has an invalid default: Field 's' contains an invalid option."},
		{"default checkbox number", `{"fields":[{"key":"c","label":"C","type":"checkbox","default":1}]}`, "Field 'c' has an invalid default: Field 'c' must be true/false."},
		{"default bad date", `{"fields":[{"key":"d","label":"D","type":"date","default":"2026-13-01"}]}`, "Field 'd' has an invalid default: Field 'd' must be a date in format YYYY-MM-DD."},
		{"step string", `{"fields":[{"key":"n","label":"N","type":"number","validation":{"step":"1"}}]}`, "Field 'n': validation.step must be a finite number or null."},
		{"step zero", `{"fields":[{"key":"n","label":"N","type":"number","validation":{"step":0}}]}`, "Field 'n': validation.step must be a positive number or null."},
		{"step negative", `{"fields":[{"key":"n","label":"N","type":"integer","validation":{"step":-2}}]}`, "Field 'n': validation.step must be a positive number or null."},
		{"step on text", field(`,"validation":{"step":1}`), "Field 'a': validation.step is only allowed for number and integer fields."},
		{"step on checkbox", `{"fields":[{"key":"c","label":"C","type":"checkbox","validation":{"step":1}}]}`, "Field 'c': validation.step is only allowed for number and integer fields."},
		{"fractional step on integer", `{"fields":[{"key":"n","label":"N","type":"integer","validation":{"step":0.5}}]}`, "Field 'n': validation.step must be a whole number for integer fields."},
		{"integer default fraction", `{"fields":[{"key":"n","label":"N","type":"integer","default":2.5}]}`, "Field 'n' has an invalid default: Field 'n' must be a whole number."},
		{"integer default string fraction", `{"fields":[{"key":"n","label":"N","type":"integer","default":"2.5"}]}`, "Field 'n' has an invalid default: Field 'n' must be a whole number."},
		{"integer default above max", `{"fields":[{"key":"n","label":"N","type":"integer","default":11,"validation":{"max":10}}]}`, "Field 'n' has an invalid default: Field 'N' must be <= 10."},
		{"default off the step", `{"fields":[{"key":"n","label":"N","type":"number","default":0.3,"validation":{"step":0.25}}]}`, "Field 'n' has an invalid default: Field 'N' must be a multiple of 0.25."},
		{"integer options", `{"fields":[{"key":"n","label":"N","type":"integer","options":[{"label":"L","value":"1"}]}]}`, "Field 'n' only supports options when type is 'select'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := portal.ParseFormSchema([]byte(tt.raw))
			if s != nil {
				t.Errorf("got a schema with an error")
			}
			checkErr(t, err, "Invalid form_schema_json: "+tt.want)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseFormSchema(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`{}`, `{"fields":null}`, `{"fields":[]}`, `{"fields":[],"layout":"grid"}`} {
		s := mustSchema(t, raw)
		if len(s.Fields) != 0 {
			t.Errorf("%s: got %d fields, want 0", raw, len(s.Fields))
		}
	}
	s := mustSchema(t, `{"fields":[
		{"key":"t","label":"`+strings.Repeat("é", 120)+`","type":"text","required":true,"helpText":null,"validation":null,"options":[],"extra":1},
		{"key":"n","label":"N","type":"number","default":5,"helpText":"help","validation":{"min":1,"max":10,"regex":null}},
		{"key":"s","label":"S","type":"select","default":"b","options":[{"label":"A","value":"a"},{"label":"B","value":"b"}]},
		{"key":"o","label":"O","type":"number","default":"  "},
		{"key":"d","label":"D","type":"date","validation":{"regex":"2026-.*"}}]}`)
	want := []portal.Field{
		{Key: "t", Label: strings.Repeat("é", 120), Type: portal.TypeText, Required: true, Options: []portal.Option{}},
		{Key: "n", Label: "N", Type: portal.TypeNumber, Default: json.Number("5"), HasDefault: true, HelpText: ptr("help"),
			Validation: &portal.Validation{Min: ptr(1.0), Max: ptr(10.0)}},
		{Key: "s", Label: "S", Type: portal.TypeSelect, Default: "b", HasDefault: true,
			Options: []portal.Option{{Label: "A", Value: "a"}, {Label: "B", Value: "b"}}},
		{Key: "o", Label: "O", Type: portal.TypeNumber, Default: "  ", HasDefault: true},
	}
	if len(s.Fields) != 5 {
		t.Fatalf("got %d fields, want 5", len(s.Fields))
	}
	for i, w := range want {
		if !reflect.DeepEqual(s.Fields[i], w) {
			t.Errorf("field %d: got %#v, want %#v", i, s.Fields[i], w)
		}
	}
	if v := s.Fields[4].Validation; v == nil || v.Regex == nil || *v.Regex != "2026-.*" {
		t.Errorf("field d: regex not kept: %#v", v)
	}
	i := mustSchema(t, `{"fields":[{"key":"i","label":"I","type":"integer","default":"10","validation":{"min":0,"step":5}}]}`).Fields[0]
	if want := (portal.Validation{Min: ptr(0.0), Step: ptr(5.0)}); i.Type != portal.TypeInteger || i.Validation == nil || !reflect.DeepEqual(*i.Validation, want) {
		t.Errorf("integer field: got %#v, want type integer and %#v", i, want)
	}
}

func TestParseRunTemplateErrors(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[{"key":"periodo","label":"Periodo","type":"text"},{"key":"n","label":"N","type":"number","validation":{"min":1}}]}`)
	args := func(a ...string) string {
		b, _ := json.Marshal(map[string]any{"mapping": map[string]any{"runtime_arguments": a}})
		return string(b)
	}
	tests := []struct{ name, raw, want string }{
		{"not json", `{"defaults":`, "Invalid run_template_json: run_template_json must be valid JSON."},
		{"array", `[]`, "Invalid run_template_json: run_template_json must be a JSON object."},
		{"defaults array", `{"defaults":[]}`, "Invalid run_template_json: defaults must be an object."},
		{"env_name unknown", `{"defaults":{"env_name":"dev"}}`, "env_name must be one of: PROD, HML, TEST."},
		{"env_name number", `{"defaults":{"env_name":1}}`, "env_name must be one of: PROD, HML, TEST."},
		{"env_name padded", `{"defaults":{"env_name":" prod"}}`, "env_name must be one of: PROD, HML, TEST."},
		{"priority text", `{"defaults":{"priority":"high"}}`, "Invalid run_template_json: defaults.priority must be a whole number from -100 to 100."},
		{"priority fraction", `{"defaults":{"priority":1.5}}`, "Invalid run_template_json: defaults.priority must be a whole number from -100 to 100."},
		{"priority too high", `{"defaults":{"priority":101}}`, "Invalid run_template_json: defaults.priority must be a whole number from -100 to 100."},
		{"mapping array", `{"mapping":[]}`, "Invalid run_template_json: mapping must be an object."},
		{"arguments string", `{"mapping":{"runtime_arguments":"--x"}}`, "Invalid run_template_json: mapping.runtime_arguments must be an array of strings."},
		{"argument number", `{"mapping":{"runtime_arguments":["a",1]}}`, "Invalid run_template_json: mapping.runtime_arguments[1] must be a string."},
		{"env array", `{"mapping":{"runtime_env":[]}}`, "Invalid run_template_json: mapping.runtime_env must be an object of strings."},
		{"env value number", `{"mapping":{"runtime_env":{"A":1}}}`, "Invalid run_template_json: mapping.runtime_env value of 'A' must be a string."},
		{"env value null", `{"mapping":{"runtime_env":{"A":null}}}`, "Invalid run_template_json: mapping.runtime_env value of 'A' must be a string."},
		{"env key digit", `{"mapping":{"runtime_env":{"1A":"x"}}}`, "Invalid run_template_json: mapping.runtime_env key '1A' must match ^[A-Za-z_][A-Za-z0-9_]*$."},
		{"env key dash", `{"mapping":{"runtime_env":{"A-B":"x"}}}`, "Invalid run_template_json: mapping.runtime_env key 'A-B' must match ^[A-Za-z_][A-Za-z0-9_]*$."},
		{"env key empty", `{"mapping":{"runtime_env":{"":"x"}}}`, "Invalid run_template_json: mapping.runtime_env key '' must match ^[A-Za-z_][A-Za-z0-9_]*$."},
		{"aliases array", `{"mapping":{"parameter_aliases":[]}}`, "Invalid run_template_json: mapping.parameter_aliases must be an object."},
		{"alias of unknown field", `{"mapping":{"parameter_aliases":{"zz":"x"}}}`, "Invalid run_template_json: mapping.parameter_aliases references unknown field 'zz'."},
		{"alias bad name", `{"mapping":{"parameter_aliases":{"periodo":"1x"}}}`, "Invalid run_template_json: mapping.parameter_aliases value of 'periodo' must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"alias number", `{"mapping":{"parameter_aliases":{"periodo":5}}}`, "Invalid run_template_json: mapping.parameter_aliases value of 'periodo' must be 1 to 80 characters matching ^[a-zA-Z][a-zA-Z0-9_]*$."},
		{"format spec", args("--p={periodo:>5}"), `Invalid run_template_json: unsupported placeholder '{periodo:>5}' in "--p={periodo:>5}"; only {name} is allowed.`},
		{"conversion", args("{periodo!r}"), `Invalid run_template_json: unsupported placeholder '{periodo!r}' in "{periodo!r}"; only {name} is allowed.`},
		{"attribute", args("{periodo.upper}"), `Invalid run_template_json: unsupported placeholder '{periodo.upper}' in "{periodo.upper}"; only {name} is allowed.`},
		{"index", args("{periodo[0]}"), `Invalid run_template_json: unsupported placeholder '{periodo[0]}' in "{periodo[0]}"; only {name} is allowed.`},
		{"empty", args("x{}"), `Invalid run_template_json: unsupported placeholder '{}' in "x{}"; only {name} is allowed.`},
		{"positional", args("{0}"), `Invalid run_template_json: unsupported placeholder '{0}' in "{0}"; only {name} is allowed.`},
		{"spaces", args("{ periodo }"), `Invalid run_template_json: unsupported placeholder '{ periodo }' in "{ periodo }"; only {name} is allowed.`},
		{"nested spec", args("{periodo:{n}}"), `Invalid run_template_json: unsupported placeholder '{periodo:{n}}' in "{periodo:{n}}"; only {name} is allowed.`},
		{"quotes in template", args(`"{x:y}"`), `Invalid run_template_json: unsupported placeholder '{x:y}' in "\"{x:y}\""; only {name} is allowed.`},
		{"single close", args("a}b"), "Invalid run_template_json: Single '}' encountered in format string"},
		{"single close after field", args("{periodo}}"), "Invalid run_template_json: Single '}' encountered in format string"},
		{"unclosed", args("--p={periodo"), "Invalid run_template_json: expected '}' before end of string"},
		{"unclosed nested", args("{periodo{n}"), "Invalid run_template_json: expected '}' before end of string"},
		{"trailing open", args("abc{"), "Invalid run_template_json: Single '{' encountered in format string"},
		{"unknown field", args("--x={nope}"), "Invalid run_template_json: run_template_json references unknown field 'nope'."},
		{"unknown field in env", `{"mapping":{"runtime_env":{"X":"{nope}"}}}`, "Invalid run_template_json: run_template_json references unknown field 'nope'."},
		{"underscore name", args("{_periodo}"), "Invalid run_template_json: run_template_json references unknown field '_periodo'."},
		{"NUL", args("a\x00"), "Invalid run_template_json: template strings must not contain NUL characters."},
		{"default wrong type", `{"defaults":{"n":"abc"}}`, "Invalid run_template_json: defaults.n is invalid: Field 'n' must be a number."},
		{"default below min", `{"defaults":{"n":0}}`, "Invalid run_template_json: defaults.n is invalid: Field 'N' must be >= 1."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := portal.ParseRunTemplate([]byte(tt.raw), s)
			if tmpl != nil {
				t.Errorf("got a template with an error")
			}
			checkErr(t, err, tt.want)
		})
	}
}

func TestParseRunTemplate(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[{"key":"periodo","label":"Periodo","type":"text"},{"key":"n","label":"N","type":"number"}]}`)
	for _, raw := range []string{``, `null`, `{}`, ` {"mapping":null,"defaults":null,"other":1} `} {
		tmpl, err := portal.ParseRunTemplate([]byte(raw), s)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if tmpl.EnvName != "" || len(tmpl.Arguments) != 0 || len(tmpl.Env) != 0 || len(tmpl.Aliases) != 0 {
			t.Errorf("%q: got %+v, want an empty template", raw, tmpl)
		}
		_, _, envName, err := portal.Render(tmpl, nil)
		if err != nil || envName != "PROD" {
			t.Errorf("%q: env name %q (%v), want PROD", raw, envName, err)
		}
	}
	if tmpl := mustTemplate(t, `{"defaults":{"priority":10}}`, s); tmpl.Priority != 10 {
		t.Errorf("priority: got %d, want 10", tmpl.Priority)
	}
	for raw, want := range map[string]string{`"hml"`: "HML", `"Test"`: "TEST", `"PROD"`: "PROD", `""`: "", `null`: ""} {
		tmpl := mustTemplate(t, `{"defaults":{"env_name":`+raw+`}}`, s)
		if tmpl.EnvName != want {
			t.Errorf("env_name %s: got %q, want %q", raw, tmpl.EnvName, want)
		}
	}
	tmpl := mustTemplate(t, `{"defaults":{"n":7,"env_name":"hml"},"mapping":{
		"runtime_arguments":["{periodo}","--n={n}","{{literal}}"],
		"runtime_env":{"ZED":"{p}","A_1":"x","_b":"{{"},
		"parameter_aliases":{"periodo":"p"}}}`, s)
	if want := []string{"{periodo}", "--n={n}", "{{literal}}"}; !reflect.DeepEqual(tmpl.Arguments, want) {
		t.Errorf("arguments: got %q, want %q", tmpl.Arguments, want)
	}
	if want := []string{"A_1", "ZED", "_b"}; !reflect.DeepEqual(tmpl.EnvKeys, want) {
		t.Errorf("env keys: got %q, want %q", tmpl.EnvKeys, want)
	}
	if want := map[string]string{"periodo": "p"}; !reflect.DeepEqual(tmpl.Aliases, want) {
		t.Errorf("aliases: got %v, want %v", tmpl.Aliases, want)
	}
	if want := map[string]any{"n": json.Number("7"), "env_name": "hml"}; !reflect.DeepEqual(tmpl.Defaults, want) {
		t.Errorf("defaults: got %#v, want %#v", tmpl.Defaults, want)
	}
	if tmpl.EnvName != "HML" {
		t.Errorf("env name: got %q, want HML", tmpl.EnvName)
	}
	resolved, err := portal.Resolve(s, tmpl, params(t, `{"periodo":"x y"}`))
	if err != nil {
		t.Fatal(err)
	}
	args, env, envName, err := portal.Render(tmpl, resolved)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x y", "--n=7", "{literal}"}; !reflect.DeepEqual(args, want) {
		t.Errorf("args: got %q, want %q", args, want)
	}
	if want := map[string]string{"ZED": "x y", "A_1": "x", "_b": "{"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env: got %v, want %v", env, want)
	}
	if envName != "HML" {
		t.Errorf("env name: got %q, want HML", envName)
	}
}

// coercionCase submits one value for a field of the given type.
type coercionCase struct {
	name     string
	field    string // field JSON without key/label, e.g. `"type":"number"`
	value    string // the submitted JSON value; "" means not submitted
	want     any    // the resolved value; nil with wantErr == "" means omitted
	wantErr  string
	rendered string // when set, the value rendered by "{x}"
}

func runCoercion(t *testing.T, tests []coercionCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schema := `{"fields":[{"key":"x","label":"Label X",` + tt.field + `}]}`
			p := `{}`
			if tt.value != "" {
				p = `{"x":` + tt.value + `}`
			}
			resolved, args, _, err := resolveRender(t, schema, `{"mapping":{"runtime_arguments":["{x}"]}}`, p)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %#v", err, tt.want)
			}
			got, present := resolved["x"]
			if tt.want == nil {
				if present {
					t.Fatalf("got %#v, want x omitted", got)
				}
				if args[0] != "" {
					t.Fatalf("omitted field rendered %q, want empty", args[0])
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
			if tt.rendered != "" && args[0] != tt.rendered {
				t.Fatalf("rendered %q, want %q", args[0], tt.rendered)
			}
		})
	}
}

func TestCoerceText(t *testing.T) {
	t.Parallel()
	const text, req = `"type":"text"`, `"type":"text","required":true`
	runCoercion(t, []coercionCase{
		{name: "string", field: text, value: `"abc"`, want: "abc", rendered: "abc"},
		{name: "not trimmed", field: text, value: `"  a b "`, want: "  a b ", rendered: "  a b "},
		{name: "unicode", field: text, value: `"ação 😀"`, want: "ação 😀"},
		{name: "number", field: text, value: `5`, wantErr: "Field 'x' must be text."},
		{name: "bool", field: text, value: `true`, wantErr: "Field 'x' must be text."},
		{name: "array", field: text, value: `["a"]`, wantErr: "Field 'x' must be text."},
		{name: "object", field: text, value: `{"a":1}`, wantErr: "Field 'x' must be text."},
		{name: "NUL", field: text, value: `"a\u0000b"`, wantErr: "Field 'x' must not contain NUL characters."},
		{name: "optional empty stays empty", field: text, value: `""`, want: ""},
		{name: "optional blank skips rules", field: text + `,"validation":{"min":3,"regex":"a+"}`, value: `" "`, want: " "},
		{name: "optional null omitted", field: text, value: `null`},
		{name: "optional absent omitted", field: text},
		{name: "optional null takes the default", field: text + `,"default":"dflt"`, value: `null`, want: "dflt"},
		{name: "required empty", field: req, value: `""`, wantErr: "Field 'Label X' is required."},
		{name: "required blank", field: req, value: `"  \t"`, wantErr: "Field 'Label X' is required."},
		{name: "required null", field: req + `,"default":"d"`, value: `null`, wantErr: "Field 'Label X' is required."},
		{name: "required absent", field: req, wantErr: "Field 'Label X' is required."},
		{name: "required absent with default", field: req + `,"default":"d"`, want: "d"},
		{name: "required blank default", field: req + `,"default":" "`, wantErr: "Field 'Label X' is required."},
	})
}

func TestCoerceNumber(t *testing.T) {
	t.Parallel()
	const num, req = `"type":"number"`, `"type":"number","required":true`
	runCoercion(t, []coercionCase{
		{name: "integer", field: num, value: `5`, want: int64(5), rendered: "5"},
		{name: "integral float", field: num, value: `5.0`, want: int64(5), rendered: "5"},
		{name: "negative", field: num, value: `-3`, want: int64(-3), rendered: "-3"},
		{name: "negative zero", field: num, value: `-0.0`, want: int64(0), rendered: "0"},
		{name: "fraction", field: num, value: `2.5`, want: 2.5, rendered: "2.5"},
		{name: "exponent", field: num, value: `1e3`, want: int64(1000), rendered: "1000"},
		{name: "large", field: num, value: `1e20`, want: 1e20, rendered: "1e+20"},
		{name: "small", field: num, value: `0.00001`, want: 1e-05, rendered: "1e-05"},
		{name: "small fixed", field: num, value: `0.0001`, want: 0.0001, rendered: "0.0001"},
		{name: "1e16", field: num, value: `1e16`, want: 1e16, rendered: "1e+16"},
		{name: "below 1e16", field: num, value: `1234567890123.5`, want: 1234567890123.5, rendered: "1234567890123.5"},
		{name: "2^53", field: num, value: `9007199254740992`, want: int64(9007199254740992), rendered: "9007199254740992"},
		{name: "above 2^53", field: num, value: `9007199254740994`, want: 9007199254740994.0, rendered: "9007199254740994"},
		{name: "string", field: num, value: `"5"`, want: int64(5), rendered: "5"},
		{name: "string spaces", field: num, value: `" 2.5\n"`, want: 2.5, rendered: "2.5"},
		{name: "string exponent", field: num, value: `"-1.5E2"`, want: int64(-150)},
		{name: "string leading dot", field: num, value: `".5"`, want: 0.5},
		{name: "string plus", field: num, value: `"+7"`, want: int64(7)},
		{name: "string word", field: num, value: `"abc"`, wantErr: "Field 'x' must be a number."},
		{name: "string underscores", field: num, value: `"1_000"`, wantErr: "Field 'x' must be a number."},
		{name: "string hex", field: num, value: `"0x10"`, wantErr: "Field 'x' must be a number."},
		{name: "string two numbers", field: num, value: `"1 2"`, wantErr: "Field 'x' must be a number."},
		{name: "string nan", field: num, value: `"nan"`, wantErr: "Field 'x' must be a finite number."},
		{name: "string inf", field: num, value: `"-Infinity"`, wantErr: "Field 'x' must be a finite number."},
		{name: "string INF", field: num, value: `" +INF "`, wantErr: "Field 'x' must be a finite number."},
		{name: "string overflow", field: num, value: `"1e999"`, wantErr: "Field 'x' must be a finite number."},
		{name: "overflow", field: num, value: `-1e400`, wantErr: "Field 'x' must be a finite number."},
		{name: "bool", field: num, value: `true`, wantErr: "Field 'x' must be a number."},
		{name: "array", field: num, value: `[1]`, wantErr: "Field 'x' must be a number."},
		{name: "optional empty omitted", field: num, value: `""`},
		{name: "optional blank omitted", field: num, value: `"  "`},
		{name: "optional null omitted", field: num, value: `null`},
		{name: "optional empty takes the default", field: num + `,"default":3`, value: `""`, want: int64(3), rendered: "3"},
		{name: "required empty", field: req, value: `""`, wantErr: "Field 'Label X' is required."},
		{name: "required null", field: req, value: `null`, wantErr: "Field 'Label X' is required."},
	})
}

func TestCoerceDate(t *testing.T) {
	t.Parallel()
	const date = `"type":"date"`
	const msg = "Field 'x' must be a date in format YYYY-MM-DD."
	runCoercion(t, []coercionCase{
		{name: "date", field: date, value: `"2026-02-28"`, want: "2026-02-28", rendered: "2026-02-28"},
		{name: "leap day", field: date, value: `"2024-02-29"`, want: "2024-02-29"},
		{name: "not a leap year", field: date, value: `"2023-02-29"`, wantErr: msg},
		{name: "day 30 of february", field: date, value: `"2026-02-30"`, wantErr: msg},
		{name: "month 13", field: date, value: `"2026-13-01"`, wantErr: msg},
		{name: "year 0", field: date, value: `"0000-01-01"`, wantErr: msg},
		{name: "compact", field: date, value: `"20260228"`, wantErr: msg},
		{name: "week date", field: date, value: `"2026-W09-6"`, wantErr: msg},
		{name: "single digits", field: date, value: `"2026-2-8"`, wantErr: msg},
		{name: "datetime", field: date, value: `"2026-02-28T00:00:00"`, wantErr: msg},
		{name: "spaces", field: date, value: `" 2026-02-28"`, wantErr: msg},
		{name: "number", field: date, value: `20260228`, wantErr: msg},
		{name: "optional empty omitted", field: date, value: `""`},
		{name: "required empty", field: date + `,"required":true`, value: `""`, wantErr: "Field 'Label X' is required."},
	})
}

func TestCoerceCheckbox(t *testing.T) {
	t.Parallel()
	const cb = `"type":"checkbox"`
	const msg = "Field 'x' must be true/false."
	runCoercion(t, []coercionCase{
		{name: "true", field: cb, value: `true`, want: true, rendered: "true"},
		{name: "false", field: cb, value: `false`, want: false, rendered: "false"},
		{name: "yes", field: cb, value: `"yes"`, want: true},
		{name: "N", field: cb, value: `"N"`, want: false},
		{name: "padded TRUE", field: cb, value: `" TRUE "`, want: true},
		{name: "string 1", field: cb, value: `"1"`, want: true},
		{name: "string 0", field: cb, value: `"0"`, want: false},
		{name: "y", field: cb, value: `"y"`, want: true},
		{name: "no", field: cb, value: `"No"`, want: false},
		{name: "number 1", field: cb, value: `1`, wantErr: msg},
		{name: "number 0", field: cb, value: `0`, wantErr: msg},
		{name: "word", field: cb, value: `"maybe"`, wantErr: msg},
		{name: "optional empty omitted", field: cb, value: `""`},
		{name: "optional empty takes the default", field: cb + `,"default":true`, value: `""`, want: true},
	})
}

func TestCoerceSelect(t *testing.T) {
	t.Parallel()
	const sel = `"type":"select","options":[{"label":"A","value":"a"},{"label":"One","value":"1"}]`
	runCoercion(t, []coercionCase{
		{name: "option", field: sel, value: `"a"`, want: "a", rendered: "a"},
		{name: "numeric option", field: sel, value: `"1"`, want: "1"},
		{name: "label is not a value", field: sel, value: `"A"`, wantErr: "Field 'x' contains an invalid option."},
		{name: "not trimmed", field: sel, value: `" a"`, wantErr: "Field 'x' contains an invalid option."},
		{name: "number", field: sel, value: `1`, wantErr: "Field 'x' must be a string option."},
		{name: "bool", field: sel, value: `true`, wantErr: "Field 'x' must be a string option."},
		{name: "optional empty omitted", field: sel, value: `""`},
		{name: "required empty", field: sel + `,"required":true`, value: `""`, wantErr: "Field 'Label X' is required."},
	})
}

func TestBusinessRules(t *testing.T) {
	t.Parallel()
	runCoercion(t, []coercionCase{
		{name: "text too short", field: `"type":"text","validation":{"min":3}`, value: `"ab"`, wantErr: "Field 'Label X' must contain at least 3 characters."},
		{name: "text min counts characters", field: `"type":"text","validation":{"min":3,"max":3}`, value: `"ééé"`, want: "ééé"},
		{name: "text too long", field: `"type":"text","validation":{"max":5}`, value: `"abcdef"`, wantErr: "Field 'Label X' must contain at most 5 characters."},
		{name: "text fractional min", field: `"type":"text","validation":{"min":2.5}`, value: `"ab"`, wantErr: "Field 'Label X' must contain at least 2 characters."},
		{name: "regex matches the whole value", field: `"type":"text","validation":{"regex":"abc"}`, value: `"xabcx"`, wantErr: "Field 'Label X' has invalid format."},
		{name: "regex alternation is anchored", field: `"type":"text","validation":{"regex":"a|ab"}`, value: `"ab"`, want: "ab"},
		{name: "regex no trailing newline", field: `"type":"text","validation":{"regex":"^a$"}`, value: `"a\n"`, wantErr: "Field 'Label X' has invalid format."},
		{name: "regex flags", field: `"type":"text","validation":{"regex":"(?i)abc"}`, value: `"ABC"`, want: "ABC"},
		{name: "date regex", field: `"type":"date","validation":{"regex":"2026-.*"}`, value: `"2025-01-01"`, wantErr: "Field 'Label X' has invalid format."},
		{name: "select length", field: `"type":"select","options":[{"label":"L","value":"long"}],"validation":{"max":2}`, value: `"long"`, wantErr: "Field 'Label X' must contain at most 2 characters."},
		{name: "number below min", field: `"type":"number","validation":{"min":1,"max":10}`, value: `0`, wantErr: "Field 'Label X' must be >= 1."},
		{name: "number above max", field: `"type":"number","validation":{"min":1,"max":10}`, value: `"10.5"`, wantErr: "Field 'Label X' must be <= 10."},
		{name: "number fractional min", field: `"type":"number","validation":{"min":1.5}`, value: `1`, wantErr: "Field 'Label X' must be >= 1.5."},
		{name: "number huge max", field: `"type":"number","validation":{"max":1e20}`, value: `2e20`, wantErr: "Field 'Label X' must be <= 1e+20."},
		{name: "number in range", field: `"type":"number","validation":{"min":1,"max":10}`, value: `10`, want: int64(10)},
		{name: "number ignores regex", field: `"type":"number","validation":{"regex":"x"}`, value: `5`, want: int64(5)},
		{name: "checkbox as 0", field: `"type":"checkbox","validation":{"min":1}`, value: `false`, wantErr: "Field 'Label X' must be >= 1."},
		{name: "checkbox as 1", field: `"type":"checkbox","validation":{"max":0}`, value: `"yes"`, wantErr: "Field 'Label X' must be <= 0."},
	})
}

func TestUnknownParameters(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, seedSchema)
	tmpl := mustTemplate(t, seedTemplate, s)
	_, err := portal.Resolve(s, tmpl, params(t, `{"x":1}`))
	checkErr(t, err, "Unknown parameters: x.")
	_, err = portal.Resolve(s, tmpl, params(t, `{"periodo":"2026-02","zeta":1,"alpha":null,"Periodo":"x"}`))
	checkErr(t, err, "Unknown parameters: Periodo, alpha, zeta.")
	// Aliases are names for the template, not parameters.
	s2 := mustSchema(t, `{"fields":[{"key":"a","label":"A","type":"text"}]}`)
	tmpl2 := mustTemplate(t, `{"mapping":{"parameter_aliases":{"a":"b"}}}`, s2)
	_, err = portal.Resolve(s2, tmpl2, params(t, `{"b":"x"}`))
	checkErr(t, err, "Unknown parameters: b.")
}

func TestCoerceInteger(t *testing.T) {
	t.Parallel()
	const integer, req = `"type":"integer"`, `"type":"integer","required":true`
	const whole = "Field 'x' must be a whole number."
	runCoercion(t, []coercionCase{
		{name: "number", field: integer, value: `3`, want: int64(3), rendered: "3"},
		{name: "string", field: integer, value: `"3"`, want: int64(3), rendered: "3"},
		{name: "string spaces", field: integer, value: `" 42 "`, want: int64(42), rendered: "42"},
		{name: "integral float", field: integer, value: `3.0`, want: int64(3), rendered: "3"},
		{name: "integral string float", field: integer, value: `"3.0"`, want: int64(3), rendered: "3"},
		{name: "exponent", field: integer, value: `1e3`, want: int64(1000), rendered: "1000"},
		{name: "negative", field: integer, value: `"-7"`, want: int64(-7), rendered: "-7"},
		{name: "2^53", field: integer, value: `9007199254740992`, want: int64(9007199254740992), rendered: "9007199254740992"},
		{name: "fraction", field: integer, value: `2.5`, wantErr: whole},
		{name: "string fraction", field: integer, value: `"2.5"`, wantErr: whole},
		{name: "small fraction", field: integer, value: `0.001`, wantErr: whole},
		{name: "above 2^53", field: integer, value: `1e20`, wantErr: "Field 'x' must be a whole number between -9007199254740992 and 9007199254740992."},
		{name: "word", field: integer, value: `"abc"`, wantErr: "Field 'x' must be a number."},
		{name: "bool", field: integer, value: `true`, wantErr: "Field 'x' must be a number."},
		{name: "infinite", field: integer, value: `"inf"`, wantErr: "Field 'x' must be a finite number."},
		{name: "below min", field: integer + `,"validation":{"min":1,"max":10}`, value: `0`, wantErr: "Field 'Label X' must be >= 1."},
		{name: "above max", field: integer + `,"validation":{"min":1,"max":10}`, value: `"11"`, wantErr: "Field 'Label X' must be <= 10."},
		{name: "in range", field: integer + `,"validation":{"min":1,"max":10}`, value: `"10"`, want: int64(10), rendered: "10"},
		{name: "optional empty omitted", field: integer, value: `""`},
		{name: "optional empty takes the default", field: integer + `,"default":"4"`, value: `""`, want: int64(4), rendered: "4"},
		{name: "required empty", field: req, value: `""`, wantErr: "Field 'Label X' is required."},
	})
}

func TestStep(t *testing.T) {
	t.Parallel()
	runCoercion(t, []coercionCase{
		{name: "number multiple", field: `"type":"number","validation":{"step":0.5}`, value: `2.5`, want: 2.5},
		{name: "number off the step", field: `"type":"number","validation":{"step":0.5}`, value: `2.2`, wantErr: "Field 'Label X' must be a multiple of 0.5."},
		{name: "decimal step rounding", field: `"type":"number","validation":{"step":0.1}`, value: `0.3`, want: 0.3},
		{name: "cents", field: `"type":"number","validation":{"step":0.01}`, value: `"19.99"`, want: 19.99},
		{name: "from min", field: `"type":"number","validation":{"min":1,"step":2}`, value: `5`, want: int64(5)},
		{name: "from min off the step", field: `"type":"number","validation":{"min":1,"step":2}`, value: `4`, wantErr: "Field 'Label X' must be 1 plus a multiple of 2."},
		{name: "negative multiple", field: `"type":"number","validation":{"step":3}`, value: `-6`, want: int64(-6)},
		{name: "integer multiple", field: `"type":"integer","validation":{"step":5}`, value: `"15"`, want: int64(15), rendered: "15"},
		{name: "integer off the step", field: `"type":"integer","validation":{"step":5}`, value: `12`, wantErr: "Field 'Label X' must be a multiple of 5."},
		{name: "integer from min", field: `"type":"integer","validation":{"min":-1,"step":10}`, value: `9`, want: int64(9)},
		{name: "range before step", field: `"type":"integer","validation":{"min":0,"max":10,"step":5}`, value: `12`, wantErr: "Field 'Label X' must be <= 10."},
	})
}

func TestResolveReportsEveryField(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[
		{"key":"periodo","label":"Periodo","type":"text","required":true,"validation":{"regex":"^\\d{4}-\\d{2}$"}},
		{"key":"qtd","label":"Quantidade","type":"integer","validation":{"min":1}},
		{"key":"ok","label":"OK","type":"text"},
		{"key":"dia","label":"Dia","type":"date","required":true},
		{"key":"banco","label":"Banco","type":"select","options":[{"label":"A","value":"a"}]}]}`)
	tests := []struct {
		name, params string
		want         []hub.FieldError
	}{
		{"one field", `{"periodo":"2026-02","dia":"2026-02-01","qtd":"2.5"}`, []hub.FieldError{
			{Field: "qtd", Message: "Field 'qtd' must be a whole number."}}},
		{"every field in form order", `{"banco":"z","qtd":0,"ok":"fine","periodo":"2026/02"}`, []hub.FieldError{
			{Field: "periodo", Message: "Field 'Periodo' has invalid format."},
			{Field: "qtd", Message: "Field 'Quantidade' must be >= 1."},
			{Field: "dia", Message: "Field 'Dia' is required."},
			{Field: "banco", Message: "Field 'banco' contains an invalid option."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := portal.Resolve(s, nil, params(t, tt.params))
			if got != nil {
				t.Errorf("got values %v with errors", got)
			}
			// The message stays the first field's, as before.
			checkErr(t, err, tt.want[0].Message)
			if fields := hub.ErrorFields(err); !reflect.DeepEqual(fields, tt.want) {
				t.Errorf("got field errors %#v, want %#v", fields, tt.want)
			}
		})
	}
	// Unknown parameters are reported alone, before any field.
	_, err := portal.Resolve(s, nil, params(t, `{"zz":1,"qtd":0}`))
	checkErr(t, err, "Unknown parameters: zz.")
	if fields := hub.ErrorFields(err); fields != nil {
		t.Errorf("got field errors %v with unknown parameters, want none", fields)
	}
}

func TestDefaultsPrecedence(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[
		{"key":"a","label":"A","type":"number","default":1},
		{"key":"b","label":"B","type":"number","default":1},
		{"key":"c","label":"C","type":"number"},
		{"key":"d","label":"D","type":"number","default":4},
		{"key":"e","label":"E","type":"text","default":"field"}]}`)
	tmpl := mustTemplate(t, `{"defaults":{"a":2,"b":"2","c":"","e":""}}`, s)
	got, err := portal.Resolve(s, tmpl, params(t, `{"a":3,"b":null,"c":null,"d":" "}`))
	if err != nil {
		t.Fatal(err)
	}
	// a: submitted; b: null falls back to the template default; c: no usable
	// default, omitted; d: blank falls back to the field default; e: the
	// template default "" of a text field wins over the field default.
	want := map[string]any{"a": int64(3), "b": int64(2), "d": int64(4), "e": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if _, err := portal.Resolve(s, nil, params(t, `{}`)); err != nil {
		t.Fatalf("nil template: %v", err)
	}
	if got, err := portal.Resolve(nil, nil, nil); err != nil || len(got) != 0 {
		t.Fatalf("nil schema: got %v, %v", got, err)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	const schema = `{"fields":[
		{"key":"periodo","label":"Periodo","type":"text"},
		{"key":"n","label":"N","type":"number"},
		{"key":"opt","label":"Opt","type":"date"},
		{"key":"b","label":"B","type":"text"}]}`
	t.Run("escapes", func(t *testing.T) {
		t.Parallel()
		_, args, _, err := resolveRender(t, schema,
			`{"mapping":{"runtime_arguments":["{{literal}}","{{{periodo}}}","}}{{","a{{b}}c"]}}`, `{"periodo":"2026-02"}`)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"{literal}", "{2026-02}", "}{", "a{b}c"}; !reflect.DeepEqual(args, want) {
			t.Fatalf("got %q, want %q", args, want)
		}
	})
	t.Run("aliases", func(t *testing.T) {
		t.Parallel()
		_, args, env, err := resolveRender(t, schema, `{"mapping":{
			"runtime_arguments":["--p={p}","--k={periodo}","{b}"],
			"runtime_env":{"P":"{p}/{n}"},
			"parameter_aliases":{"periodo":"p","n":"b"}}}`, `{"periodo":"2026-02","n":"5","b":"own"}`)
		if err != nil {
			t.Fatal(err)
		}
		// The alias b of n wins over the field b.
		if want := []string{"--p=2026-02", "--k=2026-02", "5"}; !reflect.DeepEqual(args, want) {
			t.Fatalf("got %q, want %q", args, want)
		}
		if env["P"] != "2026-02/5" {
			t.Fatalf("env P: got %q, want 2026-02/5", env["P"])
		}
	})
	t.Run("alias of omitted field", func(t *testing.T) {
		t.Parallel()
		_, args, _, err := resolveRender(t, schema, `{"mapping":{"runtime_arguments":["[{d}]","[{b}]"],
			"parameter_aliases":{"opt":"d","n":"b"}}}`, `{"b":"own"}`)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"[]", "[own]"}; !reflect.DeepEqual(args, want) {
			t.Fatalf("got %q, want %q", args, want)
		}
	})
	t.Run("omitted optional renders empty", func(t *testing.T) {
		t.Parallel()
		resolved, args, env, err := resolveRender(t, schema,
			`{"mapping":{"runtime_arguments":["--opt={opt}","{n}"],"runtime_env":{"OPT":"{opt}"}}}`, `{"opt":""}`)
		if err != nil {
			t.Fatal(err)
		}
		if len(resolved) != 0 {
			t.Fatalf("resolved: got %v, want empty", resolved)
		}
		if want := []string{"--opt=", ""}; !reflect.DeepEqual(args, want) {
			t.Fatalf("got %q, want %q", args, want)
		}
		if v, ok := env["OPT"]; !ok || v != "" {
			t.Fatalf("env OPT: got %q (%v), want present and empty", v, ok)
		}
	})
	t.Run("stringify", func(t *testing.T) {
		t.Parallel()
		tmpl := &portal.RunTemplate{Arguments: []string{"{i}", "{f}", "{g}", "{h}", "{t}", "{u}", "{s}", "{z}", "{k}", "{j}"}}
		args, env, envName, err := portal.Render(tmpl, map[string]any{
			"i": int64(-42), "f": 5.0, "g": 2.5, "h": 1e20, "t": true, "u": false, "s": "x", "z": 0.0, "k": 1.5e-7, "j": json.Number("3.0"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"-42", "5", "2.5", "1e+20", "true", "false", "x", "0", "1.5e-07", "3"}; !reflect.DeepEqual(args, want) {
			t.Fatalf("got %q, want %q", args, want)
		}
		if len(env) != 0 || envName != "PROD" {
			t.Fatalf("got env %v, env name %q", env, envName)
		}
	})
	t.Run("hand-built template", func(t *testing.T) {
		t.Parallel()
		tmpl := &portal.RunTemplate{Arguments: []string{"{x}"}, Env: map[string]string{"B": "{y}"}, EnvName: "TEST"}
		_, _, _, err := portal.Render(tmpl, map[string]any{"x": "1"})
		checkErr(t, err, "Invalid run_template_json: run_template_json references unknown field 'y'.")
		args, env, envName, err := portal.Render(tmpl, map[string]any{"x": "1", "y": int64(2)})
		if err != nil || args[0] != "1" || env["B"] != "2" || envName != "TEST" {
			t.Fatalf("got %q %v %q %v", args, env, envName, err)
		}
		_, _, _, err = portal.Render(&portal.RunTemplate{Arguments: []string{"{x!s}"}}, nil)
		checkErr(t, err, `Invalid run_template_json: unsupported placeholder '{x!s}' in "{x!s}"; only {name} is allowed.`)
	})
}

func TestHostileInputIsOneArgument(t *testing.T) {
	t.Parallel()
	hostile := "\"; rm -rf / # $(id) `id` && echo pwned | tee /tmp/x\n'--flag' {periodo} %s\\"
	p, _ := json.Marshal(map[string]any{"cmd": hostile})
	resolved, args, env, err := resolveRender(t,
		`{"fields":[{"key":"cmd","label":"Cmd","type":"text","required":true}]}`,
		`{"mapping":{"runtime_arguments":["--cmd={cmd}","{cmd}"],"runtime_env":{"CMD":"{cmd}"}}}`, string(p))
	if err != nil {
		t.Fatal(err)
	}
	if resolved["cmd"] != hostile {
		t.Fatalf("resolved: got %q, want %q", resolved["cmd"], hostile)
	}
	if want := []string{"--cmd=" + hostile, hostile}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args: got %q, want %q", args, want)
	}
	if env["CMD"] != hostile {
		t.Fatalf("env: got %q, want %q", env["CMD"], hostile)
	}
}

func TestRegexIsLinearTime(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[{"key":"s","label":"S","type":"text","validation":{"regex":"^(a+)+$"}}]}`)
	tmpl := mustTemplate(t, `{}`, s)
	for _, tc := range []struct {
		value string
		want  string
	}{
		{strings.Repeat("a", 50_000) + "b", "Field 'S' has invalid format."},
		{strings.Repeat("a", 50_000), ""},
	} {
		type result struct {
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			_, err := portal.Resolve(s, tmpl, map[string]any{"s": tc.value})
			done <- result{err, time.Since(start)}
		}()
		select {
		case r := <-done:
			if tc.want != "" {
				checkErr(t, r.err, tc.want)
			} else if r.err != nil {
				t.Fatalf("got %v, want a match", r.err)
			}
			t.Logf("regex ^(a+)+$ on %d characters: %v", len(tc.value), r.elapsed)
		case <-time.After(5 * time.Second):
			t.Fatal("Resolve did not return within 5 s (hang guard)")
		}
	}
}

func TestJSONSchemas(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]map[string]any{
		"form": portal.FormSchemaJSONSchema(), "template": portal.RunTemplateJSONSchema(),
	} {
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil || back["type"] != "object" ||
			back["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Fatalf("%s: got %s (%v)", name, b, err)
		}
		// Every "pattern" must compile (JSON Schema uses ECMA-262 syntax; ours
		// stay in the common subset).
		for _, m := range regexp.MustCompile(`"pattern":"((?:[^"\\]|\\.)*)"`).FindAllSubmatch(b, -1) {
			var p string
			if err := json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &p); err != nil {
				t.Fatal(err)
			}
			if _, err := regexp.Compile(p); err != nil {
				t.Errorf("%s: pattern %q: %v", name, p, err)
			}
		}
	}
	form := portal.FormSchemaJSONSchema()
	field := form["properties"].(map[string]any)["fields"].(map[string]any)["items"].(map[string]any)
	key := field["properties"].(map[string]any)["key"].(map[string]any)
	if key["pattern"] != `^[a-zA-Z][a-zA-Z0-9_]*$` || key["maxLength"] != 80 {
		t.Fatalf("key schema: got %v", key)
	}
	// The documents are fresh on every call: a caller may change them.
	form["title"] = "changed"
	if portal.FormSchemaJSONSchema()["title"] != "FormSchemaJSON" {
		t.Fatal("FormSchemaJSONSchema shares state between calls")
	}
}

func TestParseIsDeterministic(t *testing.T) {
	t.Parallel()
	// Errors in maps (env keys, aliases) are reported in sorted order.
	s := mustSchema(t, `{"fields":[{"key":"a","label":"A","type":"text"}]}`)
	raw := []byte(`{"mapping":{"runtime_env":{"Z":"{zz}","B":"{bb}","M":"{mm}"}}}`)
	for range 20 {
		_, err := portal.ParseRunTemplate(raw, s)
		checkErr(t, err, "Invalid run_template_json: run_template_json references unknown field 'bb'.")
	}
}

func TestNumbersSurviveJSON(t *testing.T) {
	t.Parallel()
	s := mustSchema(t, `{"fields":[{"key":"n","label":"N","type":"number"},{"key":"f","label":"F","type":"number"}]}`)
	got, err := portal.Resolve(s, nil, map[string]any{"n": 7, "f": float64(0.1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if !bytes.Equal(b, []byte(`{"f":0.1,"n":7}`)) {
		t.Fatalf("got %s", b)
	}
	_, err = portal.Resolve(s, nil, map[string]any{"n": math.NaN()})
	checkErr(t, err, "Field 'n' must be a finite number.")
	_, err = portal.Resolve(s, nil, map[string]any{"n": math.Inf(-1)})
	checkErr(t, err, "Field 'n' must be a finite number.")
}
