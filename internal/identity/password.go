package identity

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/hub"
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

// msgBusy answers a request that waited too long for a password-hashing slot.
const msgBusy = "The server is busy checking passwords. Try again in a few seconds."

// withHashSlot runs fn, which hashes or compares a password, once one of
// the HashConcurrency slots is free, so that a burst of logins cannot take
// every CPU from the other requests. A caller that waits longer than
// HashWait gets EUnavailable instead of queueing without end; one whose
// request ends first gets the context's error.
func (s *Service) withHashSlot(ctx context.Context, fn func()) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.HashWait)
	defer cancel()
	if err := s.hashSlots.Acquire(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("wait for a password-hashing slot: %w", ctx.Err())
		}
		return hub.Errorf(hub.EUnavailable, msgBusy)
	}
	defer s.hashSlots.Release(1)
	if s.hashHook != nil {
		s.hashHook()
	}
	fn()
	return nil
}

// hashPassword is HashPassword at the configured cost, in a hashing slot.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	var (
		hash string
		err  error
	)
	if slotErr := s.withHashSlot(ctx, func() { hash, err = HashPassword(password, s.cfg.BcryptCost) }); slotErr != nil {
		return "", slotErr
	}
	return hash, err
}

// checkPassword is CheckPassword in a hashing slot.
func (s *Service) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := s.withHashSlot(ctx, func() { ok = CheckPassword(hash, password) })
	return ok, err
}
