package hub

import "strings"

// MaskedValue replaces the value of a secret-looking variable wherever a run's
// environment is shown.
const MaskedValue = "***"

// secretHints are fragments of variable names whose values are treated as
// secrets: PASS covers PASSWORD, PASSWD and PASSPHRASE; CRED covers
// CREDENTIAL(S). A false positive only hides a harmless value.
var secretHints = []string{"PASS", "PWD", "SECRET", "TOKEN", "KEY", "CRED", "AUTH", "PRIVATE", "COOKIE"}

// LooksSecret reports whether a variable name suggests its value is a secret
// (it contains one of the hints, in any case).
func LooksSecret(name string) bool {
	n := strings.ToUpper(name)
	for _, h := range secretHints {
		if strings.Contains(n, h) {
			return true
		}
	}
	return false
}

// MaskSecrets returns a copy of env in which the values of secret-looking
// names are MaskedValue. A nil env gives an empty map.
func MaskSecrets(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		if LooksSecret(k) {
			v = MaskedValue
		}
		out[k] = v
	}
	return out
}
