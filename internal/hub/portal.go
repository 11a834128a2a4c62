package hub

import "time"

// Domain groups portal services (e.g. "dp-rh").
type Domain struct {
	ID, Name, Slug string
	Description    *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Service binds a robot to a form and a run template.
type Service struct {
	ID, DomainID, RobotID string
	Title                 string
	Description, Icon     *string
	Enabled               bool
	DefaultVersionID      *string
	FormSchema            []byte // JSON as sent
	RunTemplate           []byte // JSON as sent
	CreatedBy             *string
	CreatedAt, UpdatedAt  time.Time
}

// ServiceFilter narrows service lists.
type ServiceFilter struct {
	DomainID    string
	EnabledOnly bool
	// Scope limits the list to services of robots the caller may see.
	Scope RobotScope
	Page
}
