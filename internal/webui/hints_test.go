package webui

import (
	"encoding/json"
	"testing"

	"automationhub/web"
)

func TestFieldHintsAndAttributes(t *testing.T) {
	t.Parallel()
	cs, err := loadCatalogues(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	en, pt := translator{lang: "en", c: cs["en"]}, translator{lang: "pt-BR", c: cs["pt-BR"]}
	// attrs are the input's attributes the template takes from the field:
	// step, min and max of numbers; minlength and maxlength of text.
	tests := []struct {
		name, field  string
		hint, ptHint string
		attrs        map[string]string
	}{
		{name: "plain text", field: `{"type":"text"}`, attrs: map[string]string{"minlength": "", "maxlength": ""}},
		{name: "integer", field: `{"type":"integer"}`, hint: "Whole number", ptHint: "Número inteiro", attrs: map[string]string{"step": "1"}},
		{name: "integer range", field: `{"type":"integer","validation":{"min":1,"max":10}}`,
			hint: "Whole number, between 1 and 10", ptHint: "Número inteiro, entre 1 e 10", attrs: map[string]string{"step": "1", "min": "1", "max": "10"}},
		{name: "integer step from min", field: `{"type":"integer","validation":{"min":1,"step":5}}`,
			hint: "Whole number, at least 1, in steps of 5 from 1", ptHint: "Número inteiro, no mínimo 1, em passos de 5 a partir de 1",
			attrs: map[string]string{"step": "5", "min": "1", "max": ""}},
		{name: "number", field: `{"type":"number"}`, attrs: map[string]string{"step": "any", "min": "", "max": ""}},
		{name: "number step", field: `{"type":"number","validation":{"max":1000000,"step":0.25}}`,
			hint: "At most 1000000, a multiple of 0.25", ptHint: "No máximo 1000000, um múltiplo de 0.25", attrs: map[string]string{"step": "0.25", "max": "1000000"}},
		{name: "number step from zero min", field: `{"type":"number","validation":{"min":0,"step":0.5}}`,
			hint: "At least 0, a multiple of 0.5", ptHint: "No mínimo 0, um múltiplo de 0.5", attrs: map[string]string{"step": "0.5", "min": "0"}},
		{name: "text length", field: `{"type":"text","validation":{"min":2.5,"max":10.5}}`,
			hint: "3 to 10 characters", ptHint: "De 3 a 10 caracteres", attrs: map[string]string{"minlength": "3", "maxlength": "10"}},
		{name: "text exact length and format", field: `{"type":"text","validation":{"min":7,"max":7,"regex":"^\\d{4}-\\d{2}$"}}`,
			hint: `Exactly 7 characters, format: ^\d{4}-\d{2}$`, ptHint: `Exatamente 7 caracteres, formato: ^\d{4}-\d{2}$`, attrs: map[string]string{"minlength": "7", "maxlength": "7"}},
		{name: "text minimum of zero", field: `{"type":"text","validation":{"min":0,"max":5}}`,
			hint: "At most 5 characters", ptHint: "No máximo 5 caracteres", attrs: map[string]string{"minlength": "", "maxlength": "5"}},
		{name: "date format", field: `{"type":"date","validation":{"regex":"2026-.*"}}`, hint: "Format: 2026-.*", ptHint: "Formato: 2026-.*"},
		{name: "checkbox rules are not described", field: `{"type":"checkbox","validation":{"min":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f formField
			if err := json.Unmarshal([]byte(tt.field), &f); err != nil {
				t.Fatal(err)
			}
			if got := describeRules(f, en); got != tt.hint {
				t.Errorf("hint: got %q, want %q", got, tt.hint)
			}
			if got := describeRules(f, pt); got != tt.ptHint {
				t.Errorf("Portuguese hint: got %q, want %q", got, tt.ptHint)
			}
			for attr, want := range tt.attrs {
				var got string
				switch attr {
				case "step":
					got = f.Step()
				case "min", "max":
					got = f.Bound(attr)
				default: // minlength, maxlength
					got = f.Length(attr[:3])
				}
				if got != want {
					t.Errorf("%s: got %q, want %q", attr, got, want)
				}
			}
		})
	}
}
