package webui

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"

	"golang.org/x/text/language"
)

// Languages the UI speaks; the first is the fallback.
var languages = []language.Tag{language.English, language.BrazilianPortuguese}

var matcher = language.NewMatcher(languages)

// catalogue maps message keys to text in one language.
type catalogue map[string]string

// catalogues are the message files, by language tag ("en", "pt-BR").
type catalogues map[string]catalogue

// loadCatalogues reads i18n/<tag>/*.json for every supported language; a
// key defined twice in one language is an error.
func loadCatalogues(fsys fs.FS) (catalogues, error) {
	out := catalogues{}
	for _, tag := range languages {
		files, err := fs.Glob(fsys, "i18n/"+tag.String()+"/*.json")
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("webui: no message catalogue for %s", tag)
		}
		c := catalogue{}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, fmt.Errorf("webui: message catalogue %s: %w", f, err)
			}
			var part catalogue
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("webui: message catalogue %s: %w", f, err)
			}
			for k, v := range part {
				if _, dup := c[k]; dup {
					return nil, fmt.Errorf("webui: message catalogue %s: key %q defined twice", f, k)
				}
				c[k] = v
			}
		}
		out[tag.String()] = c
	}
	return out, nil
}

// missing lists keys present in one catalogue and absent in another, as
// "lang: key" lines.
func (cs catalogues) missing() []string {
	all := map[string]bool{}
	for _, c := range cs {
		for k := range c {
			all[k] = true
		}
	}
	var out []string
	for lang, c := range cs {
		for k := range all {
			if _, ok := c[k]; !ok {
				out = append(out, lang+": "+k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// pickLanguage chooses the page language: the hub_lang cookie when it names
// a supported language, else the best match for Accept-Language.
func pickLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, tag := range languages {
			if c.Value == tag.String() {
				return c.Value
			}
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	return languages[i].String()
}

// translator renders message keys in one language; args fill %s/%d verbs.
type translator struct {
	lang string
	c    catalogue
}

func (t translator) T(key string, args ...any) string {
	text, ok := t.c[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(text, args...)
	}
	return text
}
