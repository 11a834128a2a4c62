// Package hub holds the domain of Automation Hub: the types every other package
// shares, their status enums and the error kinds that travel from the business
// rules to the HTTP layer. It imports only the standard library.
package hub
