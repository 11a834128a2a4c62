package portal

import (
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"automationhub/internal/hub"
)

// maxExactInt is 2^53: integral numbers up to this magnitude are exact in a
// float64 (and in JavaScript) and are kept as int64.
const maxExactInt = 1 << 53

var (
	// decimalRE is the accepted syntax of numeric strings: optional sign,
	// digits with an optional fraction, optional exponent. Hex, digit
	// underscores, inf and nan are not numbers here.
	decimalRE = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)
	dateRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

func invalid(format string, args ...any) error {
	return hub.Errorf(hub.EInvalid, format, args...)
}

// Resolve turns submitted form values into typed values (BEHAVIOUR.md
// 4.3–4.5). params come from encoding/json (numbers as json.Number or
// float64; Go ints are accepted too). The result maps field keys to string,
// int64, float64 or bool values and becomes the run's parameters_json.
//
// Differences from the previous backend (FLAWS.md 67, 69):
//   - For an optional field, null and — unless the field is text — a string
//     that is blank after trimming count as not submitted: the run template
//     default, then the field default apply, and with neither the field is
//     omitted. An optional text field submitted blank keeps its value and
//     skips its business rules.
//   - Integral numbers within ±2^53 become int64, others float64; NaN and
//     infinities are rejected (`Field '<key>' must be a finite number.`).
//     Numeric strings use a plain decimal syntax (no digit underscores, no
//     hex); numbers in messages print without a spurious ".0".
//   - Dates accept only YYYY-MM-DD and must exist in the calendar.
//   - Text values must not contain NUL characters (they could not be passed
//     as arguments or environment values).
//
// Every error is hub.EInvalid. Unknown parameters are reported alone; else
// every field in error is reported at once (hub.ErrorFields, by field key,
// in form order), the error's message being the first field's.
func Resolve(schema *FormSchema, tmpl *RunTemplate, params map[string]any) (map[string]any, error) {
	if schema == nil {
		schema = &FormSchema{}
	}
	keys := make(map[string]bool, len(schema.Fields))
	for _, f := range schema.Fields {
		keys[f.Key] = true
	}
	var unknown []string
	for k := range params {
		if !keys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, invalid("Unknown parameters: %s.", strings.Join(unknown, ", "))
	}
	var defaults map[string]any
	if tmpl != nil {
		defaults = tmpl.Defaults
	}
	out := make(map[string]any, len(schema.Fields))
	var errs []hub.FieldError
	for i := range schema.Fields {
		f := &schema.Fields[i]
		val, set, err := f.resolve(params, defaults)
		switch {
		case err != nil:
			errs = append(errs, hub.FieldError{Field: f.Key, Message: hub.ErrorMessage(err)})
		case set:
			out[f.Key] = val
		}
	}
	if len(errs) > 0 {
		return nil, hub.FieldErrors(hub.EInvalid, errs)
	}
	return out, nil
}

// resolve picks the field's raw value (submitted, template default, field
// default), coerces and checks it; set is false when the field is omitted.
func (f *Field) resolve(params, defaults map[string]any) (val any, set bool, err error) {
	v, ok := params[f.Key]
	if ok && !f.Required && f.blank(v) {
		ok = false
	}
	if !ok {
		v, ok = defaults[f.Key]
		if ok && !f.Required && f.blank(v) {
			ok = false
		}
	}
	if !ok {
		v = f.Default
	}
	if v == nil {
		if f.Required {
			return nil, false, invalid("Field '%s' is required.", f.Label)
		}
		return nil, false, nil
	}
	if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
		switch {
		case f.Required:
			return nil, false, invalid("Field '%s' is required.", f.Label)
		case f.Type == TypeText:
			if strings.ContainsRune(s, 0) {
				return nil, false, invalid("Field '%s' must not contain NUL characters.", f.Key)
			}
			return s, true, nil
		}
		return nil, false, nil
	}
	val, err = f.coerceAndCheck(v)
	return val, err == nil, err
}

// blank reports whether v counts as "not submitted" for an optional field:
// null, or a string that is empty after trimming unless the field is text.
func (f *Field) blank(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && f.Type != TypeText && strings.TrimSpace(s) == ""
}

// coerceAndCheck coerces a raw value (§4.4) and applies the business rules
// (§4.5).
func (f *Field) coerceAndCheck(v any) (any, error) {
	val, err := f.coerce(v)
	if err != nil {
		return nil, err
	}
	if err := f.checkRules(val); err != nil {
		return nil, err
	}
	return val, nil
}

// coerce converts a raw value to the field's type; messages use the key.
func (f *Field) coerce(v any) (any, error) {
	switch f.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return nil, invalid("Field '%s' must be text.", f.Key)
		}
		if strings.ContainsRune(s, 0) {
			return nil, invalid("Field '%s' must not contain NUL characters.", f.Key)
		}
		return s, nil
	case TypeNumber:
		x, err := parseNumber(f.Key, v)
		if err != nil {
			return nil, err
		}
		return normNumber(x), nil
	case TypeInteger:
		x, err := parseNumber(f.Key, v)
		switch {
		case err != nil:
			return nil, err
		case x != math.Trunc(x):
			return nil, invalid("Field '%s' must be a whole number.", f.Key)
		case math.Abs(x) > maxExactInt:
			return nil, invalid("Field '%s' must be a whole number between -%d and %d.", f.Key, maxExactInt, maxExactInt)
		}
		return int64(x), nil
	case TypeDate:
		s, ok := v.(string)
		if !ok || !dateRE.MatchString(s) {
			return nil, invalid("Field '%s' must be a date in format YYYY-MM-DD.", f.Key)
		}
		if t, err := time.Parse(time.DateOnly, s); err != nil || t.Year() < 1 {
			return nil, invalid("Field '%s' must be a date in format YYYY-MM-DD.", f.Key)
		}
		return s, nil
	case TypeCheckbox:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "1", "yes", "y":
				return true, nil
			case "false", "0", "no", "n":
				return false, nil
			}
		}
		return nil, invalid("Field '%s' must be true/false.", f.Key)
	case TypeSelect:
		s, ok := v.(string)
		if !ok {
			return nil, invalid("Field '%s' must be a string option.", f.Key)
		}
		for _, o := range f.Options {
			if o.Value == s {
				return s, nil
			}
		}
		return nil, invalid("Field '%s' contains an invalid option.", f.Key)
	}
	return nil, invalid("Field '%s' has unknown type '%s'.", f.Key, f.Type)
}

// parseNumber reads a JSON number, Go number or numeric string as a finite
// float64.
func parseNumber(key string, v any) (float64, error) {
	var x float64
	ok := true
	switch n := v.(type) {
	case json.Number:
		x, ok = parseDecimal(string(n))
	case string:
		x, ok = parseDecimal(strings.TrimSpace(n))
	case float64:
		x = n
	case float32:
		x = float64(n)
	case int:
		x = float64(n)
	case int32:
		x = float64(n)
	case int64:
		x = float64(n)
	case uint:
		x = float64(n)
	case uint32:
		x = float64(n)
	case uint64:
		x = float64(n)
	default:
		ok = false
	}
	if !ok {
		return 0, invalid("Field '%s' must be a number.", key)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, invalid("Field '%s' must be a finite number.", key)
	}
	return x, nil
}

// parseDecimal parses a numeric string. The words inf, infinity and nan
// (any case, optional sign) and overflowing values parse as non-finite so
// that the caller reports them as such.
func parseDecimal(s string) (float64, bool) {
	if !decimalRE.MatchString(s) {
		word := strings.ToLower(s)
		if word != "" && (word[0] == '+' || word[0] == '-') {
			word = word[1:]
		}
		switch word {
		case "inf", "infinity":
			return math.Inf(1), true
		case "nan":
			return math.NaN(), true
		}
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// normNumber keeps integral values within ±2^53 as int64.
func normNumber(x float64) any {
	if x == math.Trunc(x) && math.Abs(x) <= maxExactInt {
		return int64(x)
	}
	return x
}

// formatNumber prints a number for messages: integers without ".0".
func formatNumber(x float64) string {
	if v, ok := normNumber(x).(int64); ok {
		return strconv.FormatInt(v, 10)
	}
	return formatFloat(x)
}

// checkRules applies the business rules; messages use the label.
func (f *Field) checkRules(val any) error {
	v := f.Validation
	if v == nil {
		return nil
	}
	var n float64
	switch x := val.(type) {
	case string:
		l := float64(runeLen(x))
		if v.Min != nil && l < *v.Min {
			return invalid("Field '%s' must contain at least %s characters.", f.Label, formatNumber(math.Trunc(*v.Min)))
		}
		if v.Max != nil && l > *v.Max {
			return invalid("Field '%s' must contain at most %s characters.", f.Label, formatNumber(math.Trunc(*v.Max)))
		}
		if v.Regex != nil {
			re := v.re
			if re == nil { // a schema built by hand rather than by ParseFormSchema
				var err error
				if re, err = compileFullMatch(*v.Regex); err != nil {
					return invalid("Field '%s' has an invalid validation.regex: %s.", f.Key, err)
				}
			}
			if !re.MatchString(x) {
				return invalid("Field '%s' has invalid format.", f.Label)
			}
		}
		return nil
	case int64:
		n = float64(x)
	case float64:
		n = x
	case bool:
		if x {
			n = 1
		}
	default:
		return nil
	}
	if v.Min != nil && n < *v.Min {
		return invalid("Field '%s' must be >= %s.", f.Label, formatNumber(*v.Min))
	}
	if v.Max != nil && n > *v.Max {
		return invalid("Field '%s' must be <= %s.", f.Label, formatNumber(*v.Max))
	}
	if v.Step != nil && (f.Type == TypeNumber || f.Type == TypeInteger) {
		base := 0.0
		if v.Min != nil {
			base = *v.Min
		}
		if !onStep(n, base, *v.Step) {
			if base == 0 {
				return invalid("Field '%s' must be a multiple of %s.", f.Label, formatNumber(*v.Step))
			}
			return invalid("Field '%s' must be %s plus a multiple of %s.", f.Label, formatNumber(base), formatNumber(*v.Step))
		}
	}
	return nil
}

// onStep reports whether n is base plus a whole multiple of step, allowing
// for the rounding of decimal fractions in binary (0.3 is 3 × 0.1).
func onStep(n, base, step float64) bool {
	q := (n - base) / step
	return math.Abs(q-math.Round(q)) <= 1e-9+math.Abs(q)*1e-15
}
