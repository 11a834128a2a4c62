package identity

// DummyHash exposes the hash failed logins of unknown users compare against.
func DummyHash(s *Service) string { return s.dummy() }

// SetHashHook makes every password hash or comparison call f first, inside
// its hashing slot. Set it before the service is used.
func SetHashHook(s *Service, f func()) { s.hashHook = f }
