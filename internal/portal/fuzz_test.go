package portal_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"automationhub/internal/hub"
	"automationhub/internal/portal"
)

const (
	fuzzSchema = `{"fields":[
		{"key":"t","label":"T","type":"text","validation":{"max":50}},
		{"key":"r","label":"R","type":"text","validation":{"regex":"[a-z]+(-[0-9]+)?"}},
		{"key":"n","label":"N","type":"number","validation":{"min":-1000000,"max":1e30}},
		{"key":"d","label":"D","type":"date","default":"2026-01-31"},
		{"key":"c","label":"C","type":"checkbox","required":true,"default":false},
		{"key":"s","label":"S","type":"select","options":[{"label":"A","value":"a"},{"label":"B","value":"b c"}]}]}`
	fuzzTemplate = `{"defaults":{"n":"1.5","env_name":"test"},"mapping":{
		"runtime_arguments":["--t={t}","{r}","--n={n}","--d={d}","--c={c}","{sel}{{s}}","{t}{n}{s}"],
		"runtime_env":{"T":"{t}","N":"{n}","S":"[{sel}]"},
		"parameter_aliases":{"s":"sel"}}}`
)

// FuzzResolveRender submits arbitrary JSON parameters to a fixed form and
// template: nothing panics, failures are client errors, successes hold only
// finite typed values and render deterministically, one argument per
// template, without NUL characters unless the input had one.
func FuzzResolveRender(f *testing.F) {
	schema, err := portal.ParseFormSchema([]byte(fuzzSchema))
	if err != nil {
		f.Fatal(err)
	}
	tmpl, err := portal.ParseRunTemplate([]byte(fuzzTemplate), schema)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{}`,
		`{"t":"hello","r":"abc-12","n":5,"d":"2024-02-29","c":"yes","s":"b c"}`,
		`{"t":"","r":"","n":"","d":"","c":"","s":""}`,
		`{"t":null,"r":null,"n":null,"d":null,"c":null,"s":null}`,
		`{"n":"1e400"}`, `{"n":" -2.5e3 "}`, `{"n":1e20}`, `{"n":"nan"}`, `{"n":true}`,
		`{"t":"a\u0000b"}`, `{"t":"$(id) ; rm -rf / #"}`, `{"t":"{n}"}`,
		`{"d":"2023-02-29"}`, `{"c":1}`, `{"s":"A"}`, `{"x":1}`, `[1]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var params map[string]any
		if err := dec.Decode(&params); err != nil {
			return
		}
		resolved, err := portal.Resolve(schema, tmpl, params)
		if err != nil {
			if k := hub.ErrorKind(err); k != hub.EInvalid {
				t.Fatalf("error kind %q (%v), want %q", k, err, hub.EInvalid)
			}
			return
		}
		for k, v := range resolved {
			switch x := v.(type) {
			case string, bool:
			case int64:
				if x > 1<<53 || x < -(1<<53) {
					t.Fatalf("%s: int64 %d outside ±2^53", k, x)
				}
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) || x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
					t.Fatalf("%s: float64 %v should not be stored as a float", k, x)
				}
			default:
				t.Fatalf("%s: unexpected type %T", k, v)
			}
		}
		if _, err := json.Marshal(resolved); err != nil {
			t.Fatalf("parameters_json: %v", err)
		}
		args, env, envName, err := portal.Render(tmpl, resolved)
		if err != nil {
			t.Fatalf("Render after a successful Resolve: %v", err)
		}
		args2, env2, envName2, err := portal.Render(tmpl, resolved)
		if err != nil || !reflect.DeepEqual(args, args2) || !reflect.DeepEqual(env, env2) || envName != envName2 {
			t.Fatalf("Render is not deterministic: %q %v %q / %q %v %q (%v)", args, env, envName, args2, env2, envName2, err)
		}
		if len(args) != len(tmpl.Arguments) || len(env) != len(tmpl.Env) || envName != "TEST" {
			t.Fatalf("got %d args, %d env, env name %q", len(args), len(env), envName)
		}
		inputNUL := bytes.Contains(data, []byte{0}) || bytes.Contains(data, []byte(`\u0000`))
		for _, a := range append(args, env["T"], env["N"], env["S"]) {
			if strings.ContainsRune(a, 0) && !inputNUL {
				t.Fatalf("NUL in %q without NUL in the input", a)
			}
		}
		// Text values pass through unchanged.
		if s, ok := params["t"].(string); ok && s != "" && args[0] != "--t="+s {
			t.Fatalf("text rendered %q, want %q", args[0], "--t="+s)
		}
	})
}
