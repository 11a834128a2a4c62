package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// words are the phrases of a description in one language.
type words struct {
	everyMinute, everyNMinutes, atMinuteOfHour, atTimes, atMinutesPast string
	everyHour, hours, everyNHours                                      string
	everyDay, onDays, onDOM, inMonths, and, or, sep                    string
	weekdays, months                                                   []string
}

var languages = map[string]words{
	"en": {
		everyMinute: "every minute", everyNMinutes: "every %d minutes", atMinuteOfHour: "at minute %s of every hour",
		atTimes: "at %s", atMinutesPast: "at minute %s", everyHour: "of every hour", hours: "past hour %s", everyNHours: "every %d hours",
		everyDay: "every day", onDays: "on %s", onDOM: "on day %s of the month", inMonths: "in %s", and: " and ", or: " or ", sep: ", ",
		weekdays: []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		months:   []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	},
	"pt-BR": {
		everyMinute: "a cada minuto", everyNMinutes: "a cada %d minutos", atMinuteOfHour: "no minuto %s de cada hora",
		atTimes: "às %s", atMinutesPast: "no minuto %s", everyHour: "de cada hora", hours: "das horas %s", everyNHours: "a cada %d horas",
		everyDay: "todos os dias", onDays: "em %s", onDOM: "no dia %s do mês", inMonths: "em %s", and: " e ", or: " ou ", sep: ", ",
		weekdays: []string{"domingo", "segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado"},
		months:   []string{"janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"},
	},
}

// Describe says in plain words when a cron expression fires, in English
// ("en", the default) or Brazilian Portuguese ("pt-BR"): "at 08:30 on
// Monday, Friday". It returns "" for an expression NormalizeCron refuses.
func Describe(expr, lang string) string {
	norm, err := NormalizeCron(expr)
	if err != nil {
		return ""
	}
	w, ok := languages[lang]
	if !ok {
		w = languages["en"]
	}
	f := strings.Fields(dayNames.Replace(strings.ToUpper(norm)))
	minute, hour, dom, month, dow := f[0], f[1], f[2], f[3], f[4]
	var parts []string
	mins, minsOK := values(minute, 0, 59)
	hrs, hrsOK := values(hour, 0, 23)
	switch {
	case minute == "*" && hour == "*":
		parts = append(parts, w.everyMinute)
	case strings.HasPrefix(minute, "*/") && hour == "*":
		n, _ := strconv.Atoi(minute[2:])
		parts = append(parts, fmt.Sprintf(w.everyNMinutes, n))
	case minsOK && hour == "*":
		parts = append(parts, fmt.Sprintf(w.atMinuteOfHour, list(ints(mins), w)))
	case minsOK && hrsOK && len(mins)*len(hrs) <= 6:
		var times []string
		for _, h := range hrs {
			for _, m := range mins {
				times = append(times, fmt.Sprintf("%02d:%02d", h, m))
			}
		}
		parts = append(parts, fmt.Sprintf(w.atTimes, list(times, w)))
	default:
		if minute == "*" {
			parts = append(parts, w.everyMinute)
		} else if strings.HasPrefix(minute, "*/") {
			n, _ := strconv.Atoi(minute[2:])
			parts = append(parts, fmt.Sprintf(w.everyNMinutes, n))
		} else {
			parts = append(parts, fmt.Sprintf(w.atMinutesPast, fieldText(minute, 0, 59, nil, w)))
		}
		if strings.HasPrefix(hour, "*/") {
			n, _ := strconv.Atoi(hour[2:])
			parts = append(parts, fmt.Sprintf(w.everyNHours, n))
		} else if hour != "*" {
			parts = append(parts, fmt.Sprintf(w.hours, fieldText(hour, 0, 23, nil, w)))
		}
	}
	var days []string
	if dom != "*" && dom != "?" {
		days = append(days, fmt.Sprintf(w.onDOM, fieldText(dom, 1, 31, nil, w)))
	}
	if dow != "*" && dow != "?" {
		days = append(days, fmt.Sprintf(w.onDays, fieldText(dow, 0, 7, append(w.weekdays, w.weekdays[0]), w)))
	}
	switch len(days) {
	case 0:
		if month == "*" && !(minute == "*" && hour == "*") && !strings.HasPrefix(minute, "*/") && hour != "*" && !strings.HasPrefix(hour, "*/") {
			parts = append(parts, w.everyDay)
		}
	case 1:
		parts = append(parts, days[0])
	default:
		parts = append(parts, days[0]+w.or+days[1]) // classic cron: either day field
	}
	if month != "*" {
		parts = append(parts, fmt.Sprintf(w.inMonths, fieldText(month, 1, 12, append([]string{""}, w.months...), w)))
	}
	s := strings.Join(parts, " ")
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}

// dayNames turns weekday and month names into numbers.
var dayNames = strings.NewReplacer("SUN", "0", "MON", "1", "TUE", "2", "WED", "3", "THU", "4", "FRI", "5", "SAT", "6",
	"JAN", "1", "FEB", "2", "MAR", "3", "APR", "4", "MAY", "5", "JUN", "6", "JUL", "7",
	"AUG", "8", "SEP", "9", "OCT", "10", "NOV", "11", "DEC", "12")

// values lists the values of a field made only of numbers and ranges
// (no steps), sorted; ok is false for anything else.
func values(field string, lo, hi int) ([]int, bool) {
	if strings.ContainsAny(field, "*/?LW#") {
		return nil, false
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(field, ",") {
		a, b, isRange := strings.Cut(part, "-")
		x, err := strconv.Atoi(a)
		if err != nil {
			return nil, false
		}
		y := x
		if isRange {
			if y, err = strconv.Atoi(b); err != nil {
				return nil, false
			}
		}
		for v := x; v <= y && v <= hi; v++ {
			if v >= lo {
				seen[v] = true
			}
		}
	}
	var out []int
	for v := lo; v <= hi; v++ {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out, len(out) > 0
}

func ints(vs []int) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Itoa(v)
	}
	return out
}

// fieldText names a field's values: a list, ranges, or steps, with names
// for weekdays and months.
func fieldText(field string, lo, hi int, names []string, w words) string {
	name := func(s string) string {
		n, err := strconv.Atoi(s)
		if err != nil || names == nil || n < 0 || n >= len(names) {
			return s
		}
		return names[n]
	}
	var out []string
	for _, part := range strings.Split(field, ",") {
		base, step, hasStep := strings.Cut(part, "/")
		a, b, isRange := strings.Cut(base, "-")
		text := name(a)
		if isRange {
			text = name(a) + "–" + name(b)
		}
		if base == "*" {
			text = fmt.Sprintf("%d–%d", lo, hi)
			if names != nil {
				text = name(strconv.Itoa(lo)) + "–" + name(strconv.Itoa(min(hi, len(names)-1)))
			}
		}
		if hasStep {
			text += " (/" + step + ")"
		}
		out = append(out, text)
	}
	return list(out, w)
}

// list joins items as "a, b and c".
func list(items []string, w words) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], w.sep) + w.and + items[len(items)-1]
}
