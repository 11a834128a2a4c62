package portal

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Render builds a run's arguments and environment from the template and the
// values returned by Resolve (BEHAVIOUR.md 4.6). Values are stringified
// (bool → true/false, int64 → decimal, float64 → shortest round-trip digits,
// exponent form outside [1e-4, 1e16), strings unchanged); placeholders may
// name a field key or an alias of a resolved field (the alias wins on a name
// clash). A field of the form that was omitted renders as "" (FLAWS.md 68).
// Each rendered template string is exactly one argument or environment
// value: nothing is split or passed to a shell. envName is the template's
// EnvName, or PROD.
//
// Templates should come from ParseRunTemplate, which checks every
// placeholder; for one built by hand, a name that is neither resolved nor
// aliased is an error. Errors are hub.EInvalid.
func Render(tmpl *RunTemplate, resolved map[string]any) (args []string, env map[string]string, envName string, err error) {
	if tmpl == nil {
		tmpl = &RunTemplate{}
	}
	ctx := make(map[string]string, len(resolved)+len(tmpl.Aliases))
	for k, v := range resolved {
		ctx[k] = stringify(v)
	}
	for _, k := range sortedKeys(tmpl.Aliases) {
		if v, ok := resolved[k]; ok {
			ctx[tmpl.Aliases[k]] = stringify(v)
		}
	}
	args = make([]string, 0, len(tmpl.Arguments))
	for _, s := range tmpl.Arguments {
		out, err := tmpl.render(s, ctx)
		if err != nil {
			return nil, nil, "", err
		}
		args = append(args, out)
	}
	env = make(map[string]string, len(tmpl.Env))
	for _, k := range sortedKeys(tmpl.Env) {
		out, err := tmpl.render(tmpl.Env[k], ctx)
		if err != nil {
			return nil, nil, "", err
		}
		env[k] = out
	}
	envName = tmpl.EnvName
	if envName == "" {
		envName = "PROD"
	}
	return args, env, envName, nil
}

// render substitutes the placeholders of one template string.
func (t *RunTemplate) render(s string, ctx map[string]string) (string, error) {
	segs, ok := t.parsed[s]
	if !ok {
		var err error
		if segs, err = parseTemplate(s); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	for _, sg := range segs {
		if !sg.name {
			b.WriteString(sg.text)
			continue
		}
		v, ok := ctx[sg.text]
		if !ok && !t.names[sg.text] {
			return "", unknownFieldErr(sg.text)
		}
		b.WriteString(v) // an omitted optional field renders as ""
	}
	return b.String(), nil
}

// stringify renders a resolved value as text.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case json.Number:
		if f, ok := parseDecimal(string(x)); ok {
			return formatNumber(f)
		}
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}

// formatFloat prints a float64 with the shortest digits that round-trip,
// without exponent for 1e-4 <= |x| < 1e16 and with one otherwise (1e+20,
// 1e-05), like Python's str() but without the trailing ".0".
func formatFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case x == 0:
		return "0"
	}
	if a := math.Abs(x); a >= 1e-4 && a < 1e16 {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return strconv.FormatFloat(x, 'e', -1, 64)
}
