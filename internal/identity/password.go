package identity

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the work factor of new password hashes.
const DefaultBcryptCost = 12

// bcryptMaxBytes is how much of a password bcrypt uses; longer passwords are
// cut here, as the previous backend's hashes were, so its users keep their
// passwords.
const bcryptMaxBytes = 72

func truncate(password string) []byte {
	b := []byte(password)
	if len(b) > bcryptMaxBytes {
		b = b[:bcryptMaxBytes]
	}
	return b
}

// HashPassword returns a bcrypt hash of password at the given cost.
func HashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword(truncate(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash ($2a$/$2b$/$2y$ bcrypt).
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), truncate(password)) == nil
}
