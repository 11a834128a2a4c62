// Package keyring encrypts the values of robot configuration at rest: AES-256-GCM
// with a key id stored beside each ciphertext, so that a value always names the
// key that sealed it and keys can be rotated while old ones stay readable.
//
// Keys have the format of the previous backend's ENCRYPTION_KEY: 32 random
// bytes in URL-safe base64 (a Fernet key). The AES-256 key is not those bytes
// themselves but is derived from them with HKDF-SHA256 (no salt, info
// "automation-hub robot-config aes-256-gcm v1"), so that the same secret is
// never used by two algorithms. Values the previous backend stored (Fernet
// tokens: AES-128-CBC with an HMAC-SHA256, which carry no key id) stay
// readable with the key that wrote them; they are stored with an empty key id.
//
// The package uses only the standard library and does no I/O.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// LegacyKeyID is the key id of a value sealed by the previous backend (a
// Fernet token): it names no key, every key of the ring is tried.
const LegacyKeyID = ""

// gcmInfo and idInfo separate what the key's bytes are used for.
const (
	gcmInfo = "automation-hub robot-config aes-256-gcm v1"
	idInfo  = "automation-hub key id v1"
)

// Errors of Open. Messages are safe to show.
var (
	// ErrUnknownKey: the value was sealed with a key the ring does not hold.
	ErrUnknownKey = errors.New("the value was encrypted with a key that is not configured (ENCRYPTION_KEY, ENCRYPTION_KEYS_OLD)")
	// ErrDecrypt: the value does not open with its key (altered, or moved to another row).
	ErrDecrypt = errors.New("unable to decrypt the value")
)

// Key is one encryption key.
type Key struct {
	id         string
	aead       cipher.AEAD
	fernetSign []byte // first half of the key's bytes: HMAC-SHA256 of Fernet tokens
	fernetEnc  []byte // second half: AES-128-CBC of Fernet tokens
}

// ID returns the key's id: 16 hex digits derived from the key (it reveals
// nothing of it), stored beside every value the key sealed.
func (k *Key) ID() string { return k.id }

// GenerateKey returns a new random key as text (URL-safe base64 of 32 bytes,
// the format of ENCRYPTION_KEY).
func GenerateKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.URLEncoding.EncodeToString(b)
}

// ParseKey reads a key: 32 bytes in URL-safe base64 (the Fernet format,
// 44 characters with padding), also accepted with standard base64 letters or
// without padding. Surrounding white space is ignored.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			raw = b
			break
		}
	}
	if len(raw) != 32 {
		return nil, errors.New("must be 32 bytes in URL-safe base64 (a Fernet key, 44 characters; `hub secrets keygen` prints one)")
	}
	gcmKey, err := hkdf.Key(sha256.New, raw, nil, gcmInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keyring: derive key: %w", err)
	}
	block, err := aes.NewCipher(gcmKey)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(idInfo))
	return &Key{
		id:         hex.EncodeToString(mac.Sum(nil)[:8]),
		aead:       aead,
		fernetSign: bytes.Clone(raw[:16]),
		fernetEnc:  bytes.Clone(raw[16:]),
	}, nil
}

// Ring is the current key, which seals every new value, and the old keys,
// which still open what they sealed. It is safe for concurrent use.
type Ring struct {
	current *Key
	keys    []*Key // current first
}

// New returns a ring of the current key and the old ones (text as ParseKey
// reads it). Duplicates are ignored. Errors name which key is malformed.
func New(current string, old ...string) (*Ring, error) {
	k, err := ParseKey(current)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTION_KEY %w", err)
	}
	r := &Ring{current: k, keys: []*Key{k}}
	for i, s := range old {
		if strings.TrimSpace(s) == "" {
			continue
		}
		o, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("ENCRYPTION_KEYS_OLD entry %d %w", i+1, err)
		}
		if !r.Has(o.id) {
			r.keys = append(r.keys, o)
		}
	}
	return r, nil
}

// CurrentID is the id of the key that seals new values.
func (r *Ring) CurrentID() string { return r.current.id }

// IDs lists the ids of every key, the current one first.
func (r *Ring) IDs() []string {
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.id
	}
	return out
}

// Has reports whether the ring holds the key with this id.
func (r *Ring) Has(id string) bool { return r.key(id) != nil }

func (r *Ring) key(id string) *Key {
	for _, k := range r.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

// Seal encrypts plaintext with the current key, bound to aad (a value
// sealed for one row does not open as another's). It returns the key id to
// store beside the ciphertext, which is base64 text: a random 12-byte nonce
// followed by the sealed bytes.
func (r *Ring) Seal(plaintext, aad []byte) (keyID, ciphertext string) {
	nonce := make([]byte, r.current.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := r.current.aead.Seal(nonce, nonce, plaintext, aad)
	return r.current.id, base64.StdEncoding.EncodeToString(out)
}

// Open decrypts a value sealed with the key keyID and aad. A value of the
// previous backend (LegacyKeyID) is a Fernet token, opened with whichever
// key signed it (aad does not apply). Errors: ErrUnknownKey, ErrDecrypt.
func (r *Ring) Open(keyID, ciphertext string, aad []byte) ([]byte, error) {
	if keyID == LegacyKeyID {
		for _, k := range r.keys {
			if b, err := k.openFernet(ciphertext); err == nil {
				return b, nil
			}
		}
		return nil, ErrDecrypt
	}
	k := r.key(keyID)
	if k == nil {
		return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, keyID)
	}
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	n := k.aead.NonceSize()
	if err != nil || len(raw) < n+k.aead.Overhead() {
		return nil, ErrDecrypt
	}
	b, err := k.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return b, nil
}

// Fernet token layout: version 0x80, 8-byte timestamp, 16-byte IV,
// AES-128-CBC ciphertext (PKCS#7), 32-byte HMAC-SHA256 of all before it.
const (
	fernetVersion = 0x80
	fernetHeader  = 1 + 8 + aes.BlockSize
	fernetMAC     = sha256.Size
)

// openFernet verifies and decrypts a Fernet token (no time-to-live: the
// previous backend set none).
func (k *Key) openFernet(token string) ([]byte, error) {
	raw, err := base64.URLEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || len(raw) < fernetHeader+aes.BlockSize+fernetMAC || raw[0] != fernetVersion {
		return nil, ErrDecrypt
	}
	body, sum := raw[:len(raw)-fernetMAC], raw[len(raw)-fernetMAC:]
	mac := hmac.New(sha256.New, k.fernetSign)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, ErrDecrypt
	}
	ct := body[fernetHeader:]
	if len(ct)%aes.BlockSize != 0 {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(k.fernetEnc)
	if err != nil {
		return nil, ErrDecrypt
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, body[1+8:fernetHeader]).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, ErrDecrypt
	}
	return out[:len(out)-pad], nil
}

// SealFernet makes a Fernet token of plaintext with key k, as the previous
// backend stored values (tests, and tools that write rows it must read).
func (k *Key) SealFernet(plaintext []byte, unixTime int64) string {
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	padded := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	buf := make([]byte, fernetHeader, fernetHeader+len(padded)+fernetMAC)
	buf[0] = fernetVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(unixTime))
	_, _ = rand.Read(buf[9:fernetHeader])
	block, _ := aes.NewCipher(k.fernetEnc)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, buf[9:fernetHeader]).CryptBlocks(ct, padded)
	buf = append(buf, ct...)
	mac := hmac.New(sha256.New, k.fernetSign)
	mac.Write(buf)
	return base64.URLEncoding.EncodeToString(mac.Sum(buf))
}
