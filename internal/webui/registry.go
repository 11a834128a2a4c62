package webui

// registryRoutes registers the robot pages.
func (u *UI) registryRoutes() {}
