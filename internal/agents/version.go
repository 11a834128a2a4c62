package agents

import (
	"strconv"
	"strings"

	"automationhub/internal/hub"
)

// CheckVersion says whether an agent of version agent may work with a hub
// of version hubV: the same major version, and the agent's minor version
// the hub's or one behind. A development build ("dev", or any version that
// is not MAJOR.MINOR[.PATCH]) on either side is accepted. The error
// (hub.EConflict) says what to upgrade.
func CheckVersion(hubV, agent string) error {
	hMaj, hMin, ok1 := majorMinor(hubV)
	aMaj, aMin, ok2 := majorMinor(agent)
	if !ok1 || !ok2 {
		return nil
	}
	switch {
	case aMaj == hMaj && (aMin == hMin || aMin == hMin-1):
		return nil
	case aMaj < hMaj || (aMaj == hMaj && aMin < hMin):
		return hub.Errorf(hub.EConflict, "Agent version %s is too old for hub %s: upgrade the agent to %d.%d or later.", agent, hubV, hMaj, max(hMin-1, 0))
	default:
		return hub.Errorf(hub.EConflict, "Agent version %s is newer than hub %s: upgrade the hub to %d.%d or later (or install agent %d.%d).", agent, hubV, aMaj, aMin, hMaj, hMin)
	}
}

// majorMinor reads "1.4.2", "v1.4" or "1.4.0-rc.1".
func majorMinor(v string) (major, minor int, ok bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, false
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return 0, 0, false
		}
		n[i] = x
	}
	return n[0], n[1], true
}

// versionHeader carries the hub's version in every answer to an agent.
const versionHeader = "X-Hub-Version"
