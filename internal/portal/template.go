package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"automationhub/internal/hub"
)

// envKeyPattern is the pattern of runtime_env variable names.
const envKeyPattern = `^[A-Za-z_][A-Za-z0-9_]*$`

var (
	envKeyRE = regexp.MustCompile(envKeyPattern)
	// nameRE is what may stand between braces to be a {name} placeholder;
	// anything else (format specs, conversions, attributes, indexes,
	// positional fields) is rejected.
	nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// RunTemplate is a parsed and validated run_template_json.
type RunTemplate struct {
	// Defaults is the decoded "defaults" object (numbers as json.Number),
	// env_name included; Resolve reads it by field key.
	Defaults map[string]any
	// EnvName is defaults.env_name upper-cased, "" when absent (PROD).
	EnvName string
	// Priority is defaults.priority: the queue priority of the service's
	// runs (-100 to 100; 0 when absent), so that a service users wait for
	// can go before batch robots.
	Priority int
	// Arguments are the runtime_arguments template strings, in order.
	Arguments []string
	// Env maps each runtime_env variable to its template string; EnvKeys
	// lists its keys sorted.
	Env     map[string]string
	EnvKeys []string
	// Aliases maps field keys to extra placeholder names.
	Aliases map[string]string

	names  map[string]bool      // placeholder names allowed: field keys and aliases
	parsed map[string][]segment // template string → its parsed form
}

// segment is a piece of a template: literal text, or a placeholder name.
type segment struct {
	text string
	name bool
}

func tmplErr(format string, args ...any) error {
	return hub.Errorf(hub.EInvalid, "Invalid run_template_json: %s", fmt.Sprintf(format, args...))
}

func unknownFieldErr(name string) error {
	return tmplErr("run_template_json references unknown field '%s'.", name)
}

// ParseRunTemplate validates run_template_json against the form schema at
// save time (BEHAVIOUR.md 4.2, 4.6) and returns the parsed template. An empty
// or null document is {}. Template strings may contain only {name}
// placeholders, naming a field key or an alias, and the {{ and }} escapes;
// format specs, conversions, attributes, indexes and positional fields are
// rejected (FLAWS.md 40). defaults.env_name, when present and not empty,
// must be PROD, HML or TEST in any case. Template defaults of field keys must
// pass the field's coercion and rules. Every error is hub.EInvalid; all but
// the env_name one start with "Invalid run_template_json: ".
func ParseRunTemplate(raw []byte, schema *FormSchema) (*RunTemplate, error) {
	if schema == nil {
		schema = &FormSchema{}
	}
	obj := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		doc, ok := decodeJSON(raw)
		if !ok {
			return nil, tmplErr("run_template_json must be valid JSON.")
		}
		if doc != nil {
			if obj, ok = doc.(map[string]any); !ok {
				return nil, tmplErr("run_template_json must be a JSON object.")
			}
		}
	}
	t := &RunTemplate{
		Defaults: map[string]any{}, Arguments: []string{}, Env: map[string]string{}, EnvKeys: []string{},
		Aliases: map[string]string{}, names: map[string]bool{}, parsed: map[string][]segment{},
	}

	if v := obj["defaults"]; v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, tmplErr("defaults must be an object.")
		}
		t.Defaults = m
	}
	if v := t.Defaults["env_name"]; v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, hub.Errorf(hub.EInvalid, "env_name must be one of: PROD, HML, TEST.")
		}
		if s != "" {
			up := strings.ToUpper(s)
			if !slices.Contains(hub.EnvNames, up) {
				return nil, hub.Errorf(hub.EInvalid, "env_name must be one of: PROD, HML, TEST.")
			}
			t.EnvName = up
		}
	}

	if v := t.Defaults["priority"]; v != nil {
		n, ok := v.(json.Number)
		p, err := n.Int64()
		if !ok || err != nil || p < -100 || p > 100 {
			return nil, tmplErr("defaults.priority must be a whole number from -100 to 100.")
		}
		t.Priority = int(p)
	}

	mapping := map[string]any{}
	if v := obj["mapping"]; v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, tmplErr("mapping must be an object.")
		}
		mapping = m
	}
	if v := mapping["runtime_arguments"]; v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, tmplErr("mapping.runtime_arguments must be an array of strings.")
		}
		for i, a := range list {
			s, ok := a.(string)
			if !ok {
				return nil, tmplErr("mapping.runtime_arguments[%d] must be a string.", i)
			}
			t.Arguments = append(t.Arguments, s)
		}
	}
	if v := mapping["runtime_env"]; v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, tmplErr("mapping.runtime_env must be an object of strings.")
		}
		for _, k := range sortedKeys(m) {
			if !envKeyRE.MatchString(k) {
				return nil, tmplErr("mapping.runtime_env key '%s' must match %s.", k, envKeyPattern)
			}
			s, ok := m[k].(string)
			if !ok {
				return nil, tmplErr("mapping.runtime_env value of '%s' must be a string.", k)
			}
			t.Env[k] = s
			t.EnvKeys = append(t.EnvKeys, k)
		}
	}
	if v := mapping["parameter_aliases"]; v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, tmplErr("mapping.parameter_aliases must be an object.")
		}
		for _, k := range sortedKeys(m) {
			if schema.field(k) == nil {
				return nil, tmplErr("mapping.parameter_aliases references unknown field '%s'.", k)
			}
			s, ok := m[k].(string)
			if !ok || len(s) > maxKeyLen || !keyRE.MatchString(s) {
				return nil, tmplErr("mapping.parameter_aliases value of '%s' must be 1 to %d characters matching %s.", k, maxKeyLen, keyPattern)
			}
			t.Aliases[k] = s
		}
	}

	for _, f := range schema.Fields {
		t.names[f.Key] = true
	}
	for _, a := range t.Aliases {
		t.names[a] = true
	}
	templates := slices.Clone(t.Arguments)
	for _, k := range t.EnvKeys {
		templates = append(templates, t.Env[k])
	}
	for _, s := range templates {
		segs, err := parseTemplate(s)
		if err != nil {
			return nil, err
		}
		for _, sg := range segs {
			if sg.name && !t.names[sg.text] {
				return nil, unknownFieldErr(sg.text)
			}
		}
		t.parsed[s] = segs
	}

	for i := range schema.Fields {
		f := &schema.Fields[i]
		if v, ok := t.Defaults[f.Key]; ok {
			if err := f.checkDefault(v); err != nil {
				return nil, tmplErr("defaults.%s is invalid: %s", f.Key, hub.ErrorMessage(err))
			}
		}
	}
	return t, nil
}

// parseTemplate splits a template string into literals and {name}
// placeholders. Brace errors use Python's str.format messages.
func parseTemplate(s string) ([]segment, error) {
	if strings.ContainsRune(s, 0) {
		return nil, tmplErr("template strings must not contain NUL characters.")
	}
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '{':
			if i+1 < len(s) && s[i+1] == '{' {
				lit.WriteByte('{')
				i += 2
				continue
			}
			if i+1 == len(s) {
				return nil, tmplErr("Single '{' encountered in format string")
			}
			// The field ends at the brace that balances this one, as in
			// Python (nested braces belong to a format spec).
			depth, j := 1, i+1
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if j == len(s) {
				return nil, tmplErr("expected '}' before end of string")
			}
			name := s[i+1 : j]
			if !nameRE.MatchString(name) {
				return nil, tmplErr("unsupported placeholder '{%s}' in %q; only {name} is allowed.", name, s)
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{text: lit.String()})
				lit.Reset()
			}
			segs = append(segs, segment{text: name, name: true})
			i = j + 1
		case '}':
			if i+1 < len(s) && s[i+1] == '}' {
				lit.WriteByte('}')
				i += 2
				continue
			}
			return nil, tmplErr("Single '}' encountered in format string")
		default:
			lit.WriteByte(c)
			i++
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{text: lit.String()})
	}
	return segs, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RunTemplateJSONSchema returns a JSON Schema document (draft 2020-12) that
// describes run_template_json, for the OpenAPI document. The checks against
// the form (placeholder and alias names, defaults) are described in the text.
func RunTemplateJSONSchema() map[string]any {
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "RunTemplateJSON",
		"description": "How a service's form values become the robot's arguments and environment (run_template_json). Template strings accept only {name} placeholders (a field key or an alias) and the {{ and }} escapes; each rendered string is one argument or environment value, never passed to a shell. An omitted optional field renders as an empty string.",
		"type":        "object",
		"properties": map[string]any{
			"defaults": map[string]any{
				"type":        "object",
				"description": "Values used for fields that are not submitted (before the field's own default); must pass the field's rules.",
				"default":     map[string]any{},
				"properties": map[string]any{
					"env_name": map[string]any{"anyOf": []any{
						map[string]any{"type": "string", "pattern": "^(?:[Pp][Rr][Oo][Dd]|[Hh][Mm][Ll]|[Tt][Ee][Ss][Tt])?$",
							"description": "Target environment PROD, HML or TEST (any case); PROD when absent."},
						map[string]any{"type": "null"},
					}},
				},
			},
			"mapping": map[string]any{
				"type":    "object",
				"default": map[string]any{},
				"properties": map[string]any{
					"runtime_arguments": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "default": []any{},
						"description": "Argument templates, in order."},
					"runtime_env": map[string]any{"type": "object", "default": map[string]any{},
						"propertyNames":        map[string]any{"pattern": envKeyPattern},
						"additionalProperties": map[string]any{"type": "string"},
						"description":          "Environment variable name → value template."},
					"parameter_aliases": map[string]any{"type": "object", "default": map[string]any{},
						"additionalProperties": map[string]any{"type": "string", "minLength": 1, "maxLength": maxKeyLen, "pattern": keyPattern},
						"description":          "Field key → extra placeholder name for its value (the alias wins over a field key of the same name)."},
				},
			},
		},
	}
}
