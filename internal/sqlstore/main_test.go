package sqlstore_test

import (
	"testing"

	"automationhub/internal/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }
