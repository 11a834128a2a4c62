package httpapi

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"automationhub/internal/hub"
)

// Input text must not hold NUL characters: PostgreSQL text cannot store
// them, and no process argument or environment variable can carry them.
// They are refused here, in one place, before any capability sees the
// input: the decoded input of every operation (path, query, header and
// body fields, see register), the path, query and form fields of the plain
// handlers. The answer is a 400 naming the field.

// nulError is the refusal of a NUL character in field; errors[0].field
// names it too, so that a form can show the message next to the input.
func nulError(field string) error {
	if field == "" {
		field = "body"
	}
	return hub.FieldErrors(hub.EInvalid, []hub.FieldError{{Field: field, Message: field + " must not contain NUL characters."}})
}

// refuseNULInput checks every string of a decoded operation input: fields
// are named by their path, query, header or JSON name, nested ones as
// parent.child; the keys and elements of maps and lists by the field that
// holds them. Raw bytes (RawBody, uploads) are not text and are skipped.
func refuseNULInput(v reflect.Value, name string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return refuseNULInput(v.Elem(), name)
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return nulError(name)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := range v.Len() {
			if err := refuseNULInput(v.Index(i), name); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := refuseNULInput(it.Key(), name); err != nil {
				return err
			}
			if err := refuseNULInput(it.Value(), name); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				if err := refuseNULInput(v.Field(i), inputName(f, name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// inputName is how a client names a struct field of an operation input.
// Untagged fields (Body) pass their parent's name on.
func inputName(f reflect.StructField, parent string) string {
	for _, tag := range []string{"path", "query", "header", "json"} {
		if n, _, _ := strings.Cut(f.Tag.Get(tag), ","); n != "" && n != "-" {
			if parent != "" {
				return parent + "." + n
			}
			return n
		}
	}
	return parent
}

// refuseNULValues checks query parameters or form fields, keys and values.
func refuseNULValues(vals url.Values) error {
	for k, vs := range vals {
		if strings.IndexByte(k, 0) >= 0 {
			return nulError("field names")
		}
		for _, v := range vs {
			if strings.IndexByte(v, 0) >= 0 {
				return nulError(k)
			}
		}
	}
	return nil
}

// refuseNULRequest checks the path and query of a plain handler's request.
func refuseNULRequest(r *http.Request) error {
	if strings.IndexByte(r.URL.Path, 0) >= 0 {
		return nulError("path")
	}
	return refuseNULValues(r.URL.Query())
}
