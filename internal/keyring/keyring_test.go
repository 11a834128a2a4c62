package keyring_test

import (
	"errors"
	"strings"
	"testing"

	"automationhub/internal/keyring"
)

// Fernet tokens made by the previous backend's library (Python
// cryptography's Fernet) with fernetKey.
const (
	fernetKey    = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
	fernetSecret = "gAAAAABrDVSZ4rJtKgvDUBf_A_nAU--1mWs2K4Mgzgz2DPtLBIt_SFCLQFwLg5kbUMGX8r7Xo4YwJEK53ZWBkq1ySQlXLKwe9xU_bi2PzHr0QMM0mtgS01w="
	fernetEmpty  = "gAAAAABrDVSZDG3nZ3Wg2nLS03w0HM7dqxWXm3tqaNW6clYrRyOiJdKmWcYi7Vk1HhouFshS9GOQnzmv3_wSNzvyR4UIouKZdA=="
	otherKey     = "PrOnIvoafZbIn-h3myP79CLcpHOa-yR1GmrPDF3BMM8="
	otherUnicode = "gAAAAABrDVSZghwN2kWc3wbBJAB6gpTXBo0Q3N1zT0zZkJq-x5aXe0z1azU76kRxi5cKV7nurM4qdn5q3Zlu6blzQnvyl6JXoQ=="
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	k, err := keyring.ParseKey(fernetKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.ID()) != 16 {
		t.Errorf("id %q, want 16 hex digits", k.ID())
	}
	for _, s := range []string{
		"  " + fernetKey + "\n",                                    // white space
		strings.TrimRight(fernetKey, "="),                          // no padding
		strings.NewReplacer("-", "+", "_", "/").Replace(fernetKey), // standard letters
	} {
		k2, err := keyring.ParseKey(s)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", s, err)
			continue
		}
		if k2.ID() != k.ID() {
			t.Errorf("ParseKey(%q) id %s, want %s", s, k2.ID(), k.ID())
		}
	}
	for _, bad := range []string{"", "change-me", "c2hvcnQ=", fernetKey + "AAAA", strings.Repeat("k", 44)} {
		if _, err := keyring.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	gen := keyring.GenerateKey()
	if len(gen) != 44 {
		t.Errorf("generated key %q is not 44 characters", gen)
	}
	if g, err := keyring.ParseKey(gen); err != nil || g.ID() == k.ID() {
		t.Errorf("generated key: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r, err := keyring.New(fernetKey)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("robot\x00PROD\x00API_TOKEN")
	for _, plain := range []string{"", "hunter2", strings.Repeat("é", 5000)} {
		id, ct := r.Seal([]byte(plain), aad)
		if id != r.CurrentID() {
			t.Errorf("sealed with %s, want the current key %s", id, r.CurrentID())
		}
		if strings.Contains(ct, plain) && plain != "" {
			t.Errorf("ciphertext holds the plain text")
		}
		got, err := r.Open(id, ct, aad)
		if err != nil || string(got) != plain {
			t.Errorf("Open = %q, %v; want %q", got, err, plain)
		}
		if _, err := r.Open(id, ct, []byte("robot\x00HML\x00API_TOKEN")); !errors.Is(err, keyring.ErrDecrypt) {
			t.Errorf("opened with another row's aad: %v", err)
		}
	}
	_, ct1 := r.Seal([]byte("x"), nil)
	_, ct2 := r.Seal([]byte("x"), nil)
	if ct1 == ct2 {
		t.Error("two seals of one value are equal: nonces repeat")
	}
	if _, err := r.Open("0123456789abcdef", ct1, nil); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("unknown key id: %v, want ErrUnknownKey", err)
	}
	if _, err := r.Open(r.CurrentID(), "not base64!", nil); !errors.Is(err, keyring.ErrDecrypt) {
		t.Errorf("garbage: %v, want ErrDecrypt", err)
	}
	tampered := []byte(ct1)
	tampered[len(tampered)/2] ^= 1
	if _, err := r.Open(r.CurrentID(), string(tampered), nil); err == nil {
		t.Error("tampered ciphertext opened")
	}
}

func TestRotationKeepsOldKeysReadable(t *testing.T) {
	t.Parallel()
	oldRing, err := keyring.New(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	oldID, oldCT := oldRing.Seal([]byte("old secret"), nil)
	newKey := keyring.GenerateKey()
	r, err := keyring.New(newKey, "", otherKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if r.CurrentID() == oldID || len(r.IDs()) != 2 || !r.Has(oldID) {
		t.Fatalf("ring ids %v (current %s), want the new key and the old one", r.IDs(), r.CurrentID())
	}
	got, err := r.Open(oldID, oldCT, nil)
	if err != nil || string(got) != "old secret" {
		t.Errorf("old value: %q, %v", got, err)
	}
	newOnly, _ := keyring.New(newKey)
	if _, err := newOnly.Open(oldID, oldCT, nil); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("without the old key: %v, want ErrUnknownKey", err)
	}
	if _, err := keyring.New(newKey, "bad"); err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEYS_OLD entry 1") {
		t.Errorf("bad old key: %v, want an error naming ENCRYPTION_KEYS_OLD", err)
	}
	if _, err := keyring.New("bad"); err == nil || !strings.HasPrefix(err.Error(), "ENCRYPTION_KEY must be") {
		t.Errorf("bad key: %v, want an error naming ENCRYPTION_KEY", err)
	}
}

// TestFernetValuesOfThePreviousBackend opens tokens the previous backend's
// library wrote, with the key that wrote them as current or old key.
func TestFernetValuesOfThePreviousBackend(t *testing.T) {
	t.Parallel()
	r, err := keyring.New(keyring.GenerateKey(), fernetKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{fernetSecret: "super-secret-token", fernetEmpty: "", otherUnicode: "pässwörd ✓"} {
		got, err := r.Open(keyring.LegacyKeyID, token, nil)
		if err != nil || string(got) != want {
			t.Errorf("Open(fernet) = %q, %v; want %q", got, err, want)
		}
	}
	only, _ := keyring.New(fernetKey)
	if _, err := only.Open(keyring.LegacyKeyID, otherUnicode, nil); !errors.Is(err, keyring.ErrDecrypt) {
		t.Errorf("token of another key: %v, want ErrDecrypt", err)
	}
	k, _ := keyring.ParseKey(fernetKey)
	tok := k.SealFernet([]byte("round trip"), 1_700_000_000)
	if got, err := only.Open(keyring.LegacyKeyID, tok, nil); err != nil || string(got) != "round trip" {
		t.Errorf("SealFernet round trip: %q, %v", got, err)
	}
	bad := []byte(fernetSecret)
	bad[20] ^= 2
	if _, err := only.Open(keyring.LegacyKeyID, string(bad), nil); err == nil {
		t.Error("altered Fernet token opened")
	}
}
