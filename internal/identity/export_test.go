package identity

// DummyHash exposes the hash failed logins of unknown users compare against.
func DummyHash(s *Service) string { return s.dummy() }
