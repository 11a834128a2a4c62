package webui

import (
	"fmt"
	"strings"
	"testing"

	"automationhub/internal/identity"
	"automationhub/web"
)

func TestAPIMessageCatalogue(t *testing.T) {
	t.Parallel()
	cs, err := loadCatalogues(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range apiMessages {
		if seen[m.pattern] {
			t.Errorf("pattern %q is listed twice", m.pattern)
		}
		seen[m.pattern] = true
		for lang, c := range cs {
			text, ok := c[m.key]
			if !ok {
				t.Errorf("%s: %s (for %q) is missing", lang, m.key, m.pattern)
				continue
			}
			if got, want := strings.Count(text, "%s"), strings.Count(m.pattern, "%s"); got != want || strings.Count(text, "%") != got {
				t.Errorf("%s: %s has %d %%s verbs (and %d %%), want %d like its pattern", lang, m.key, got, strings.Count(text, "%"), want)
			}
		}
	}
}

func TestTranslateAPIMessages(t *testing.T) {
	t.Parallel()
	cs, err := loadCatalogues(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	en, pt := translator{lang: "en", c: cs["en"]}, translator{lang: "pt-BR", c: cs["pt-BR"]}
	for _, tc := range []struct {
		detail, en, pt string
	}{
		{identity.MsgForbidden, "You do not have permission to do this.", "Você não tem permissão para fazer isso."},
		{"Run nao encontrada.", "Run not found.", "Execução não encontrada."},
		{"run_id invalido.", "This is not a valid run id.", "Este não é um identificador de execução válido."},
		{fmt.Sprintf("runtime_env key %q is not a valid variable name.", "1BAD"),
			`"1BAD" is not a valid variable name: use letters, digits and _, not starting with a digit.`,
			`"1BAD" não é um nome de variável válido: use letras, dígitos e _, sem começar por dígito.`},
		{fmt.Sprintf("Robot version %s has no package yet; publish a version with an artifact first.", "0.1.0"),
			"Version 0.1.0 has no package yet: publish a version with a package first.",
			"A versão 0.1.0 ainda não tem pacote: publique antes uma versão com pacote."},
		{"Field 'Período' must be >= 1.", "Período must be at least 1.", "Período deve ser no mínimo 1."},
		{"expected length >= 8", "Enter at least 8 characters.", "Digite pelo menos 8 caracteres."},
		// Unknown messages, and known ones inside other text, pass unchanged.
		{"Something the catalogue does not know.", "Something the catalogue does not know.", "Something the catalogue does not know."},
		{"Oops: Run nao encontrada.", "Oops: Run nao encontrada.", "Oops: Run nao encontrada."},
		{"", "", ""},
	} {
		if got := en.API(tc.detail); got != tc.en {
			t.Errorf("en %q = %q, want %q", tc.detail, got, tc.en)
		}
		if got := pt.API(tc.detail); got != tc.pt {
			t.Errorf("pt-BR %q = %q, want %q", tc.detail, got, tc.pt)
		}
	}
	detail, fields := en.apiFormError(&apiError{Status: 422, Detail: "expected length >= 8", Fields: map[string]string{"new_password": "expected length >= 8"}})
	if detail != "Enter at least 8 characters." || fields["new_password"] != detail {
		t.Errorf("apiFormError = %q, %v", detail, fields)
	}
}
