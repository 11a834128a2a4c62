package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Setting describes one configuration variable for help output.
type Setting struct {
	Name    string
	Default string
	Group   string
	Help    string
	Secret  bool
	// File: the value may also come from the file NAME_FILE names.
	File bool
}

// Settings lists every variable the hub reads, in declaration order.
func Settings() []Setting {
	t := reflect.TypeFor[Config]()
	out := make([]Setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		out = append(out, Setting{
			Name:    strings.Split(name, ",")[0],
			Default: f.Tag.Get("envDefault"),
			Group:   f.Tag.Get("group"),
			Help:    f.Tag.Get("help"),
			Secret:  f.Tag.Get("secret") == "true",
			File:    f.Tag.Get("file") == "true",
		})
	}
	return out
}

// Known reports whether name (any case) is a variable the hub reads.
func Known(name string) bool {
	name = strings.ToUpper(name)
	for _, s := range Settings() {
		if s.Name == name || s.File && s.Name+FileSuffix == name {
			return true
		}
	}
	return false
}

// WriteHelp writes every setting, grouped, with its default and description.
func WriteHelp(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	group := ""
	for _, s := range Settings() {
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(tw, "\n  %s\n", group)
		}
		def := s.Default
		if def == "" {
			def = "-"
		}
		help := s.Help
		if s.File {
			help += " Also from a file: " + s.Name + FileSuffix + "."
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", s.Name, def, help)
	}
	tw.Flush()
}

// Redacted returns the effective settings as name → value with secrets and
// URL passwords hidden, for the one startup log line.
func (c Config) Redacted() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		var val string
		switch x := v.Field(i).Interface().(type) {
		case []string:
			val = strings.Join(x, ",")
		default:
			val = fmt.Sprint(x)
		}
		switch {
		case f.Tag.Get("secret") == "true" && val != "":
			val = "<redacted>"
		case name == "DATABASE_URL" || name == "REDIS_URL":
			if val != "" {
				val = redactURL(val)
			}
		}
		out[name] = val
	}
	return out
}
