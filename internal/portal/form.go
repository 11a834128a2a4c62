package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"automationhub/internal/hub"
)

// Field types.
const (
	TypeText     = "text"
	TypeNumber   = "number"
	TypeInteger  = "integer"
	TypeDate     = "date"
	TypeSelect   = "select"
	TypeCheckbox = "checkbox"
)

// Limits of a form schema.
const (
	maxKeyLen      = 80
	maxLabelLen    = 120
	maxHelpTextLen = 500
	maxOptionLen   = 120
	maxRegexLen    = 1000
)

// keyPattern is the pattern of field keys and parameter aliases.
const keyPattern = `^[a-zA-Z][a-zA-Z0-9_]*$`

var keyRE = regexp.MustCompile(keyPattern)

// Option is one choice of a select field: Label is shown, Value is submitted.
type Option struct {
	Label, Value string
}

// Validation holds a field's business rules. Min and Max bound a string's
// length in characters or a number's value; Step (number and integer
// fields only, positive) makes the allowed values Min (or 0) plus a whole
// multiple of Step; Regex must match the whole string value. Regex is
// compiled (RE2, linear-time) by ParseFormSchema.
type Validation struct {
	Min, Max, Step *float64
	Regex          *string
	re             *regexp.Regexp
}

// Field is one input of a service's form.
type Field struct {
	Key, Label, Type string
	Required         bool
	// Default is the decoded JSON default (numbers as json.Number); nil means
	// none, and HasDefault then is false.
	Default    any
	HasDefault bool
	HelpText   *string
	Validation *Validation
	Options    []Option
}

// FormSchema is a parsed and validated form_schema_json.
type FormSchema struct {
	Fields []Field
}

// field returns the field with the given key, or nil.
func (s *FormSchema) field(key string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Key == key {
			return &s.Fields[i]
		}
	}
	return nil
}

var fieldTypes = []string{TypeText, TypeNumber, TypeInteger, TypeDate, TypeSelect, TypeCheckbox}

func schemaErr(format string, args ...any) error {
	return hub.Errorf(hub.EInvalid, "Invalid form_schema_json: %s", fmt.Sprintf(format, args...))
}

// decodeJSON decodes one JSON value with numbers as json.Number and rejects
// trailing data. ok is false when raw is not valid JSON.
func decodeJSON(raw []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return v, true
}

// runeLen is the length in characters (code points), as Python's len().
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// jsonFloat reads a JSON number (or a Go number) as a finite float64.
func jsonFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, false
		}
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// ParseFormSchema validates form_schema_json at save time (BEHAVIOUR.md 4.1)
// and returns the parsed schema. raw must be a JSON object; "fields" may be
// absent or null (no fields); unknown keys are ignored. Beyond the previous
// backend it compiles validation.regex (Go RE2 syntax, at most 1000
// characters) and checks that a non-null default passes the field's coercion
// and business rules. Every error is hub.EInvalid with a message starting
// "Invalid form_schema_json: ".
func ParseFormSchema(raw []byte) (*FormSchema, error) {
	doc, ok := decodeJSON(raw)
	if !ok {
		return nil, schemaErr("form_schema_json must be valid JSON.")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, schemaErr("form_schema_json must be a JSON object.")
	}
	schema := &FormSchema{Fields: []Field{}}
	rawFields, ok := obj["fields"].([]any)
	if !ok && obj["fields"] != nil {
		return nil, schemaErr("fields must be an array.")
	}
	for i, rf := range rawFields {
		m, ok := rf.(map[string]any)
		if !ok {
			return nil, schemaErr("fields[%d] must be an object.", i)
		}
		f, err := parseField(i, m)
		if err != nil {
			return nil, err
		}
		schema.Fields = append(schema.Fields, f)
	}
	seen := make(map[string]bool, len(schema.Fields))
	for _, f := range schema.Fields {
		if seen[f.Key] {
			return nil, schemaErr("Duplicate field key '%s' in form schema.", f.Key)
		}
		seen[f.Key] = true
	}
	for i := range schema.Fields {
		f := &schema.Fields[i]
		if err := f.checkDefault(f.Default); err != nil {
			return nil, schemaErr("Field '%s' has an invalid default: %s", f.Key, hub.ErrorMessage(err))
		}
	}
	return schema, nil
}

// parseField validates the shape of the i-th field.
func parseField(i int, m map[string]any) (Field, error) {
	var f Field
	key, ok := m["key"].(string)
	switch {
	case m["key"] == nil:
		return f, schemaErr("fields[%d].key is required.", i)
	case !ok:
		return f, schemaErr("fields[%d].key must be a string.", i)
	case len(key) < 1 || len(key) > maxKeyLen || !keyRE.MatchString(key):
		return f, schemaErr("fields[%d].key must be 1 to %d characters matching %s.", i, maxKeyLen, keyPattern)
	}
	f.Key = key

	label, ok := m["label"].(string)
	switch {
	case m["label"] == nil:
		return f, schemaErr("Field '%s': label is required.", key)
	case !ok:
		return f, schemaErr("Field '%s': label must be a string.", key)
	case runeLen(label) < 1 || runeLen(label) > maxLabelLen:
		return f, schemaErr("Field '%s': label must be 1 to %d characters.", key, maxLabelLen)
	}
	f.Label = label

	typ, ok := m["type"].(string)
	switch {
	case m["type"] == nil:
		return f, schemaErr("Field '%s': type is required.", key)
	case !ok:
		return f, schemaErr("Field '%s': type must be a string.", key)
	}
	known := false
	for _, t := range fieldTypes {
		known = known || t == typ
	}
	if !known {
		return f, schemaErr("Field '%s' has unknown type '%s'; type must be one of: %s.", key, typ, strings.Join(fieldTypes, ", "))
	}
	f.Type = typ

	if v, present := m["required"]; present {
		b, ok := v.(bool)
		if !ok {
			return f, schemaErr("Field '%s': required must be true or false.", key)
		}
		f.Required = b
	}

	f.Default = m["default"]
	f.HasDefault = f.Default != nil

	if v := m["helpText"]; v != nil {
		s, ok := v.(string)
		if !ok {
			return f, schemaErr("Field '%s': helpText must be a string or null.", key)
		}
		if runeLen(s) > maxHelpTextLen {
			return f, schemaErr("Field '%s': helpText must be at most %d characters.", key, maxHelpTextLen)
		}
		f.HelpText = &s
	}

	if v := m["validation"]; v != nil {
		vm, ok := v.(map[string]any)
		if !ok {
			return f, schemaErr("Field '%s': validation must be an object or null.", key)
		}
		val, err := parseValidation(key, vm)
		if err != nil {
			return f, err
		}
		f.Validation = val
		if err := f.checkStep(); err != nil {
			return f, err
		}
	}

	if v := m["options"]; v != nil {
		list, ok := v.([]any)
		if !ok {
			return f, schemaErr("Field '%s': options must be an array or null.", key)
		}
		f.Options = make([]Option, 0, len(list))
		for j, ro := range list {
			om, ok := ro.(map[string]any)
			if !ok {
				return f, schemaErr("Field '%s': options[%d] must be an object.", key, j)
			}
			var o Option
			for _, p := range []struct {
				name string
				dst  *string
			}{{"label", &o.Label}, {"value", &o.Value}} {
				s, ok := om[p.name].(string)
				if !ok || runeLen(s) < 1 || runeLen(s) > maxOptionLen {
					return f, schemaErr("Field '%s': options[%d].%s must be a string of 1 to %d characters.", key, j, p.name, maxOptionLen)
				}
				if strings.ContainsRune(s, 0) {
					return f, schemaErr("Field '%s': options[%d].%s must not contain NUL characters.", key, j, p.name)
				}
				*p.dst = s
			}
			f.Options = append(f.Options, o)
		}
	}
	if f.Type == TypeSelect && len(f.Options) == 0 {
		return f, schemaErr("Field '%s' of type 'select' requires non-empty options.", key)
	}
	if f.Type != TypeSelect && len(f.Options) > 0 {
		return f, schemaErr("Field '%s' only supports options when type is 'select'.", key)
	}
	return f, nil
}

// parseValidation validates a field's validation object and compiles its regex.
func parseValidation(key string, m map[string]any) (*Validation, error) {
	val := &Validation{}
	for _, p := range []struct {
		name string
		dst  **float64
	}{{"min", &val.Min}, {"max", &val.Max}, {"step", &val.Step}} {
		v := m[p.name]
		if v == nil {
			continue
		}
		x, ok := jsonFloat(v)
		if !ok {
			return nil, schemaErr("Field '%s': validation.%s must be a finite number or null.", key, p.name)
		}
		*p.dst = &x
	}
	if val.Step != nil && *val.Step <= 0 {
		return nil, schemaErr("Field '%s': validation.step must be a positive number or null.", key)
	}
	if val.Min != nil && val.Max != nil && *val.Min > *val.Max {
		return nil, schemaErr("validation.min cannot be greater than validation.max.")
	}
	if v := m["regex"]; v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, schemaErr("Field '%s': validation.regex must be a string or null.", key)
		}
		if runeLen(s) > maxRegexLen {
			return nil, schemaErr("Field '%s': validation.regex must be at most %d characters.", key, maxRegexLen)
		}
		re, err := compileFullMatch(s)
		if err != nil {
			return nil, schemaErr("Field '%s' has an invalid validation.regex: %s.", key, err)
		}
		val.Regex, val.re = &s, re
	}
	return val, nil
}

// checkStep checks that validation.step suits the field's type.
func (f *Field) checkStep() error {
	step := f.Validation.Step
	switch {
	case step == nil:
	case f.Type != TypeNumber && f.Type != TypeInteger:
		return schemaErr("Field '%s': validation.step is only allowed for number and integer fields.", f.Key)
	case f.Type == TypeInteger && *step != math.Trunc(*step):
		return schemaErr("Field '%s': validation.step must be a whole number for integer fields.", f.Key)
	}
	return nil
}

// compileFullMatch compiles pattern so that it matches only whole strings,
// as Python's re.fullmatch. The pattern is first compiled alone so that one
// like `a)|(b` cannot escape the anchoring group.
func compileFullMatch(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	re, err := regexp.Compile(`\A(?:` + pattern + `)\z`)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// checkDefault checks a configured default value (a field default or a run
// template default) the way Resolve would use it when nothing is submitted.
// A null or blank default is equivalent to no default.
func (f *Field) checkDefault(v any) error {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil
	}
	_, err := f.coerceAndCheck(v)
	return err
}

// FormSchemaJSONSchema returns a JSON Schema document (draft 2020-12) that
// describes form_schema_json, for the OpenAPI document. The save-time checks
// that JSON Schema cannot express (unique keys, min <= max, select options,
// regex syntax, valid defaults) are described in the text.
func FormSchemaJSONSchema() map[string]any {
	str := func(minLen, maxLen int, desc string) map[string]any {
		s := map[string]any{"type": "string", "maxLength": maxLen, "description": desc}
		if minLen > 0 {
			s["minLength"] = minLen
		}
		return s
	}
	nullable := func(s map[string]any) map[string]any {
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	option := map[string]any{
		"type":     "object",
		"required": []any{"label", "value"},
		"properties": map[string]any{
			"label": str(1, maxOptionLen, "Text shown to the user."),
			"value": str(1, maxOptionLen, "Value submitted and passed to the robot."),
		},
	}
	validation := map[string]any{
		"type":        "object",
		"description": "Business rules, checked after coercion. min/max bound the length in characters of text, date and select values, and the value of numbers and integers (checkboxes count as 0/1); min must not exceed max.",
		"properties": map[string]any{
			"min": nullable(map[string]any{"type": "number"}),
			"max": nullable(map[string]any{"type": "number"}),
			"step": nullable(map[string]any{"type": "number", "exclusiveMinimum": 0,
				"description": "Number and integer fields only (a whole number for integers): the value must be min (or 0 without min) plus a whole multiple of step."}),
			"regex": nullable(str(0, maxRegexLen,
				"RE2 regular expression (Go regexp syntax; no backreferences or lookaround) that must match the whole string value. Compiled when the service is saved.")),
		},
	}
	field := map[string]any{
		"type":     "object",
		"required": []any{"key", "label", "type"},
		"properties": map[string]any{
			"key": map[string]any{"type": "string", "minLength": 1, "maxLength": maxKeyLen, "pattern": keyPattern,
				"description": "Parameter name; unique within the form."},
			"label": str(1, maxLabelLen, "Text shown to the user and used in business-rule messages."),
			"type": map[string]any{"type": "string", "enum": []any{TypeText, TypeNumber, TypeInteger, TypeDate, TypeSelect, TypeCheckbox},
				"description": "integer accepts whole numbers only (3 or \"3\", not 2.5) and passes them without a decimal point."},
			"required": map[string]any{"type": "boolean", "default": false,
				"description": "A required field must resolve to a non-blank value."},
			"default":    map[string]any{"description": "Value used when the parameter is not submitted and the run template has no default for it; null means none. Must pass the field's coercion and rules."},
			"helpText":   nullable(str(0, maxHelpTextLen, "Help shown under the input.")),
			"validation": nullable(validation),
			"options": nullable(map[string]any{"type": "array", "items": option,
				"description": "Required and non-empty for select fields; not allowed for other types."}),
		},
	}
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "FormSchemaJSON",
		"description": "A service's form (form_schema_json). Unknown keys are kept but ignored.",
		"type":        "object",
		"properties": map[string]any{
			"fields": map[string]any{"type": "array", "items": field, "default": []any{},
				"description": "Inputs in display order; keys must be unique."},
		},
	}
}
