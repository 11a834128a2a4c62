package identity

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Local token claims.
const (
	TokenIssuer    = "automation-hub"
	TokenAudience  = "automation-hub-api"
	tokenTypeLocal = "local_access"
	tokenLeeway    = 5 * time.Second
)

type localClaims struct {
	jwt.RegisteredClaims
	TokenType  string `json:"token_type"`
	AuthSource string `json:"auth_source"`
	// Generation must equal the user's token generation.
	Generation int `json:"gen"`
}

// issueToken signs a local HS256 access token for a user.
func issueToken(secret []byte, userID string, generation int, now time.Time, ttl time.Duration) (string, error) {
	claims := localClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{TokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        uuid.NewString(),
		},
		TokenType:  tokenTypeLocal,
		AuthSource: "local",
		Generation: generation,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

var errNotLocal = errors.New("not a valid local token")

// parseToken verifies a local token: HS256 only, signature, issuer,
// audience, type, exp/nbf/iat, and a UUID subject.
func parseToken(secret []byte, raw string, now func() time.Time) (*localClaims, error) {
	var c localClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotLocal, err)
	}
	if c.TokenType != tokenTypeLocal {
		return nil, fmt.Errorf("%w: token_type %q", errNotLocal, c.TokenType)
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return nil, fmt.Errorf("%w: subject is not a user id", errNotLocal)
	}
	return &c, nil
}

// tokenAlg returns the alg header of a JWT without verifying anything, or ""
// when raw is not a JWT.
func tokenAlg(raw string) string {
	t, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return ""
	}
	alg, _ := t.Header["alg"].(string)
	return alg
}
